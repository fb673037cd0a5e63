#!/usr/bin/env bash
# Every plugins/<name>/ folder stands alone (issue 16): its sources include nothing through
# "../" or from another plugin's folder, and its plugin.mk builds only its own files and lib/
# (the shared layer). Checks the tree this script lives in, so a copy run from a worktree
# checks that commit. Lists every problem, then fails.
. "$(dirname "$0")/../lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

plugins=()
for d in plugins/*/; do plugins+=("$(basename "$d")"); done
is_plugin() { local q; for q in "${plugins[@]}"; do [ "$q" = "$1" ] && return 0; done; return 1; }
problems=()
bad() { problems+=("$*"); }

# Why a path written in a plugin's file is not its own: prints the reason, or nothing.
foreign_path() { # plugin path
  local p=$1 path=$2 first=${2%%/*}
  case "$path" in
    ../* | */../* | *'/..') echo "goes up with ../" ;;
    /*) echo "is absolute" ;;
    plugins/"$p"/*) ;;
    plugins/*) echo "is in another plugin's folder" ;;
    *) if [ "$first" != "$path" ] && [ "$first" != "$p" ] && is_plugin "$first"; then
         echo "names plugin $first's folder"; fi ;;
  esac
}

# 1. Includes. A quoted name that exists nowhere else but in another plugin's folder could
# only be found through an -I into that folder.
while IFS= read -r -d '' f; do
  p=${f#plugins/} && p=${p%%/*}
  while IFS=: read -r line text; do
    inc=$(sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]([^">]*)[">].*/\1/' <<<"$text")
    why=$(foreign_path "$p" "$inc")
    if [ -z "$why" ] && [[ "$text" == *'"'* ]] && [ ! -e "$(dirname "$f")/$inc" ] &&
      [ ! -e "include/$inc" ] && [ ! -e "lib/$inc" ] && [ ! -e "core/$inc" ]; then
      for q in "${plugins[@]}"; do
        [ "$q" != "$p" ] && [ -e "plugins/$q/$inc" ] && why="exists only in plugins/$q/"
      done
    fi
    [ -z "$why" ] || bad "$f:$line: #include \"$inc\" $why"
  done < <(grep -nE '^[[:space:]]*#[[:space:]]*include' "$f" || true)
done < <(find plugins -type f \( -name '*.c' -o -name '*.h' -o -name '*.cpp' -o -name '*.hpp' \
  -o -name '*.inc' \) -print0 | sort -z)

# 2. What each plugin.mk builds, as make sees it: <name>_SRCS (objects under the build dir
# stand for their sources), paths in <name>_LIBS, -I in <name>_CFLAGS. Sources must be the
# plugin's own or lib/.
B=@BUILD@
srcs=$(make -s --no-print-directory BUILD=$B --eval 'layout-vars: ; @$(foreach p,$(PLUGINS),printf "%s\t%s\t%s\t%s\n" "$(p)" "$(strip $($(p)_SRCS))" "$(strip $($(p)_LIBS))" "$(strip $($(p)_CFLAGS))";)' layout-vars 2>"$T_DIR/make.err") ||
  fail "make could not list the plugins' sources: $(cat "$T_DIR/make.err")"
while IFS=$'\t' read -r p s l c; do
  [ -n "$p" ] || continue
  for w in $s; do
    src=${w#$B/pobj/} && src=${src#$B/obj/}
    case "$src" in
      plugins/"$p"/* | lib/*) ;;
      *) bad "plugins/$p/plugin.mk: ${p}_SRCS has $w (only plugins/$p/ and lib/ may be built)" ;;
    esac
  done
  for w in $l; do
    [[ "$w" == *plugins/* || "$w" == *../* ]] || continue
    why=$(foreign_path "$p" "${w##*=}")
    [ -z "$why" ] || bad "plugins/$p/plugin.mk: ${p}_LIBS has $w, which $why"
  done
  for w in $c; do
    [[ "$w" == -I* ]] || continue
    why=$(foreign_path "$p" "${w#-I}/")
    [ -z "$why" ] || bad "plugins/$p/plugin.mk: ${p}_CFLAGS has $w, which $why"
  done
done <<<"$srcs"

# 3. A plugin.mk's own rules (comments aside): it names no file of another plugin's folder,
# except that folder's static/ (run-time assets: out_websocket serves out_sse's dashboard).
for mk in plugins/*/plugin.mk; do
  p=$(basename "$(dirname "$mk")")
  while IFS=: read -r line ref; do
    q=${ref#plugins/} && q=${q%%/*}
    is_plugin "$q" || continue
    [ "$q" = "$p" ] || [[ "$ref" == plugins/"$q"/static/* ]] || [ "$ref" = "plugins/$q/static" ] ||
      bad "$mk:$line: names $ref, in plugin $q's folder"
  done < <(sed 's/#.*//' "$mk" | grep -noP '(?<![\w/.$)])plugins/\w+/[^\s:;)$]*' || true)
  while IFS=: read -r line _; do
    bad "$mk:$line: goes up with ../"
  done < <(sed 's/#.*//' "$mk" | grep -n '\.\./' || true)
done

# 4. The shared layer sits below the plugins: lib/ includes nothing of theirs.
while IFS=: read -r f line text; do
  bad "$f:$line: lib/ includes a plugin's file: $text"
done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]([^">]*/)?(\.\./|plugins/)' lib || true)

if [ ${#problems[@]} -gt 0 ]; then
  printf '%s\n' "${problems[@]}" >&2
  fail "${#problems[@]} layout problem(s): a plugin must not reach into another plugin's folder (move shared code to lib/)"
fi
note "layout ok: ${#plugins[@]} plugin folders stand alone"
