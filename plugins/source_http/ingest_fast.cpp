/* simdjson fast path of source_http's body parsers: decodes with simdjson's DOM parser
 * (which validates the whole document, so it accepts exactly the JSON that jansson does,
 * minus the few corners it declines) and drives the rb_builder exactly as ingest.c does. */
#define SIMDJSON_EXCEPTIONS 0
#include "ingest_fast.h"

#include <simdjson.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using std::string_view;

static_assert(ING_FAST_PADDING >= simdjson::SIMDJSON_PADDING, "ING_FAST_PADDING below simdjson's");

/* Bodies above this are parsed by a parser freed right after, so a worker thread does not
 * keep a large document's worth of parser memory for the rest of its life. */
constexpr size_t kKeepParserUpTo = 1u << 20;

/* A malloc'd, growable byte string; ok() turns false for good once an allocation failed. */
struct fbuf {
  char *p = nullptr;
  size_t len = 0, cap = 0;
  bool failed = false;
  fbuf() = default;
  fbuf(const fbuf &) = delete;
  fbuf &operator=(const fbuf &) = delete;
  ~fbuf() { free(p); }
  bool reserve(size_t n) {
    if (n + 1 <= cap) return true;
    size_t c = cap ? cap : 128;
    while (c < n + 1) c *= 2;
    char *q = static_cast<char *>(realloc(p, c));
    if (!q) return !(failed = true);
    p = q;
    cap = c;
    return true;
  }
  void put(const char *s, size_t n) {
    if (failed || !reserve(len + n)) return;
    memcpy(p + len, s, n);
    len += n;
  }
  void put(string_view s) { put(s.data(), s.size()); }
  void put(char c) { put(&c, 1); }
  /* Takes the bytes out as a NUL-terminated malloc'd string. */
  char *take() {
    if (failed || !reserve(len)) return nullptr;
    p[len] = '\0';
    char *out = p;
    p = nullptr;
    len = cap = 0;
    return out;
  }
};

/* ---- duplicate keys -------------------------------------------------------------------- */

/* jansson keeps one value per key (the last, at the first one's place); rather than mimic
 * that, any object with a repeated key is declined. Keys are checked as an object is walked:
 * the first few against each other, and a wider object once more, sorted, at its end. */
int compare_views(const void *a, const void *b) {
  const string_view *x = static_cast<const string_view *>(a);
  const string_view *y = static_cast<const string_view *>(b);
  return x->compare(*y);
}

bool sorted_keys_repeat(simdjson::dom::object o) {
  size_t count = 0;
  for (simdjson::dom::key_value_pair kv : o) {
    (void)kv;
    count++;
  }
  string_view *all = static_cast<string_view *>(malloc(count * sizeof *all));
  if (!all) return true; /* declining is always safe */
  size_t i = 0;
  for (simdjson::dom::key_value_pair kv : o) all[i++] = kv.key;
  qsort(all, count, sizeof *all, compare_views);
  bool dup = false;
  for (i = 1; i < count && !dup; i++) dup = all[i] == all[i - 1];
  free(all);
  return dup;
}

class key_check {
public:
  /* false: key repeats one seen before */
  bool add(string_view key) {
    if (n_ == kSmall) return true; /* left to done() */
    for (size_t i = 0; i < n_; i++)
      if (seen_[i] == key) return false;
    seen_[n_++] = key;
    return true;
  }
  /* After the walk: false when some key repeats. */
  bool done(simdjson::dom::object o) const { return n_ < kSmall || !sorted_keys_repeat(o); }

private:
  static constexpr size_t kSmall = 16;
  string_view seen_[kSmall];
  size_t n_ = 0;
};

/* ---- JSON text exactly as jansson's json_dumps(JSON_COMPACT) writes it ------------------ */

void dump_string(fbuf &o, string_view s) {
  static const char hex[] = "0123456789ABCDEF";
  o.put('"');
  size_t run = 0;
  for (size_t i = 0; i < s.size(); i++) {
    unsigned char ch = static_cast<unsigned char>(s[i]);
    if (ch >= 0x20 && ch != '"' && ch != '\\') continue;
    o.put(s.data() + run, i - run);
    run = i + 1;
    switch (ch) {
    case '"': o.put("\\\"", 2); break;
    case '\\': o.put("\\\\", 2); break;
    case '\b': o.put("\\b", 2); break;
    case '\f': o.put("\\f", 2); break;
    case '\n': o.put("\\n", 2); break;
    case '\r': o.put("\\r", 2); break;
    case '\t': o.put("\\t", 2); break;
    default: {
      char seq[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
      o.put(seq, 6);
    }
    }
  }
  o.put(s.data() + run, s.size() - run);
  o.put('"');
}

/* "%.17g", then ".0" when it reads like an integer, and no '+' or leading zeros in the
 * exponent: jansson's real format. */
void dump_real(fbuf &o, double v) {
  char buf[48];
  int n = snprintf(buf, sizeof buf - 3, "%.17g", v);
  if (n < 0 || static_cast<size_t>(n) >= sizeof buf - 3) {
    o.failed = true;
    return;
  }
  size_t len = static_cast<size_t>(n);
  if (!memchr(buf, '.', len) && !memchr(buf, 'e', len)) {
    buf[len++] = '.';
    buf[len++] = '0';
    buf[len] = '\0';
  }
  char *e = static_cast<char *>(memchr(buf, 'e', len));
  if (e) {
    char *start = e + 1;
    char *end = start + 1;
    if (*start == '-') start++;
    while (*end == '0') end++;
    if (end != start) {
      memmove(start, end, len - static_cast<size_t>(end - buf) + 1);
      len -= static_cast<size_t>(end - start);
    }
  }
  o.put(buf, len);
}

void dump_int(fbuf &o, int64_t v) {
  char buf[24];
  int n = snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
  o.put(buf, static_cast<size_t>(n));
}

/* false: declined (a value jansson would not hold the same way) */
bool dump(fbuf &o, element v) {
  switch (v.type()) {
  case element_type::ARRAY: {
    o.put('[');
    bool first = true;
    simdjson::dom::array arr = v.get_array().value_unsafe();
    for (element e : arr) {
      if (!first) o.put(',');
      first = false;
      if (!dump(o, e)) return false;
    }
    o.put(']');
    return true;
  }
  case element_type::OBJECT: {
    simdjson::dom::object obj = v.get_object().value_unsafe();
    key_check keys;
    o.put('{');
    bool first = true;
    for (simdjson::dom::key_value_pair kv : obj) {
      if (!keys.add(kv.key)) return false;
      if (!first) o.put(',');
      first = false;
      dump_string(o, kv.key);
      o.put(':');
      if (!dump(o, kv.value)) return false;
    }
    o.put('}');
    return keys.done(obj);
  }
  case element_type::STRING: dump_string(o, v.get_string().value_unsafe()); return true;
  case element_type::INT64: dump_int(o, v.get_int64().value_unsafe()); return true;
  case element_type::DOUBLE: dump_real(o, v.get_double().value_unsafe()); return true;
  case element_type::BOOL: o.put(v.get_bool().value_unsafe() ? "true" : "false"); return true;
  case element_type::NULL_VALUE: o.put("null", 4); return true;
  case element_type::UINT64: return false; /* jansson refuses integers past INT64_MAX */
  }
  return false;
}

/* ---- flattening into the builder -------------------------------------------------------- */

struct fctx {
  const rb_builder *b;
  fbuf name; /* the field name of the current level, NUL-terminated */
  fbuf json; /* scratch for arrays kept as JSON text */
};

/* name[at..] = (sep ? "_" : "") + key; returns the new length, or SIZE_MAX. */
size_t name_put(fctx &c, size_t at, bool sep, string_view key) {
  size_t n = at + (sep ? 1 : 0) + key.size();
  if (!c.name.reserve(n)) return SIZE_MAX;
  if (sep) c.name.p[at++] = '_';
  memcpy(c.name.p + at, key.data(), key.size());
  c.name.p[n] = '\0';
  c.name.len = n;
  return n;
}

bool flatten(fctx &c, size_t len, element v, bool numbers_as_double) {
  const rb_builder *b = c.b;
  switch (v.type()) {
  case element_type::OBJECT: {
    simdjson::dom::object obj = v.get_object().value_unsafe();
    key_check keys;
    for (simdjson::dom::key_value_pair kv : obj) {
      if (!keys.add(kv.key)) return false;
      size_t n = name_put(c, len, true, kv.key);
      if (n == SIZE_MAX || !flatten(c, n, kv.value, numbers_as_double)) return false;
    }
    return keys.done(obj);
  }
  case element_type::ARRAY:
    c.json.len = 0;
    if (!dump(c.json, v) || c.json.failed) return false;
    return !b->field_string(b->ctx, c.name.p, len, c.json.p ? c.json.p : "", c.json.len);
  case element_type::STRING: {
    string_view s = v.get_string().value_unsafe();
    return !b->field_string(b->ctx, c.name.p, len, s.data(), s.size());
  }
  case element_type::INT64: {
    int64_t i = v.get_int64().value_unsafe();
    return numbers_as_double ? !b->field_double(b->ctx, c.name.p, len, static_cast<double>(i))
                             : !b->field_int(b->ctx, c.name.p, len, i);
  }
  case element_type::DOUBLE:
    return !b->field_double(b->ctx, c.name.p, len, v.get_double().value_unsafe());
  case element_type::BOOL:
    return !b->field_bool(b->ctx, c.name.p, len, v.get_bool().value_unsafe() ? 1 : 0);
  case element_type::NULL_VALUE:
    return !b->field_null(b->ctx, c.name.p, len);
  case element_type::UINT64:
    return false;
  }
  return false;
}

bool field(fctx &c, string_view key, element v, bool numbers_as_double) {
  size_t n = name_put(c, 0, false, key);
  return n != SIZE_MAX && flatten(c, n, v, numbers_as_double);
}

/* Epoch nanoseconds: a non-negative integer or a string of 1..19 digits within int64. */
bool time_value(element v, int64_t *out) {
  element_type t = v.type();
  if (t == element_type::INT64) {
    int64_t i = v.get_int64().value_unsafe();
    if (i < 0) return false;
    *out = i;
    return true;
  }
  if (t != element_type::STRING) return false;
  string_view s = v.get_string().value_unsafe();
  if (s.empty() || s.size() > 19) return false;
  int64_t r = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return false;
    int d = ch - '0';
    if (r > (INT64_MAX - d) / 10) return false;
    r = r * 10 + d;
  }
  *out = r;
  return true;
}

/* ---- documents ------------------------------------------------------------------------ */

/* Corners where simdjson and jansson part ways, declined before parsing: "\u0000" (jansson
 * refuses it, simdjson decodes it) and a byte-order mark (jansson refuses it). */
bool needs_jansson(const char *body, size_t len) {
  if (len >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0) return true;
  /* Backslashes are rare in sensor bodies: memchr skips to each (faster than memmem). */
  const char *p = body, *end = body + len;
  while ((p = static_cast<const char *>(memchr(p, '\\', static_cast<size_t>(end - p))))) {
    if (end - p >= 6 && memcmp(p + 1, "u0000", 5) == 0) return true;
    p += p + 1 < end && p[1] == '\\' ? 2 : 1; /* an escaped backslash escapes nothing */
  }
  return false;
}

/* Parses with this thread's parser (or a one-off one for a large body). */
class doc_parser {
public:
  explicit doc_parser(size_t len) : own_(len > kKeepParserUpTo) {}
  bool parse(const char *buf, size_t len, bool padded, element *out) {
    static thread_local simdjson::dom::parser kept;
    simdjson::dom::parser &p = own_ ? once_ : kept;
    return p.parse(buf, len, !padded).get(*out) == simdjson::SUCCESS;
  }

private:
  bool own_;
  simdjson::dom::parser once_;
};

int sensorlogger(element root, int64_t received_ns, const rb_builder *b, ing_summary *out) {
  if (root.type() != element_type::OBJECT) return ING_FAST_DECLINED;
  simdjson::dom::object top = root.get_object().value_unsafe();
  element message_id, session_id, device_id, user_id, payload;
  bool has_user = false, has_payload = false;
  int required = 0;
  key_check top_keys;
  for (simdjson::dom::key_value_pair kv : top) {
    if (!top_keys.add(kv.key)) return ING_FAST_DECLINED;
    if (kv.key == "messageId") {
      message_id = kv.value;
      required |= 1;
    } else if (kv.key == "sessionId") {
      session_id = kv.value;
      required |= 2;
    } else if (kv.key == "deviceId") {
      device_id = kv.value;
      required |= 4;
    } else if (kv.key == "userId") {
      user_id = kv.value;
      has_user = true;
    } else if (kv.key == "payload") {
      payload = kv.value;
      has_payload = true;
    }
  }
  if (!top_keys.done(top) || required != 7 || !has_payload || message_id.type() != element_type::INT64 ||
      session_id.type() != element_type::STRING || device_id.type() != element_type::STRING ||
      payload.type() != element_type::ARRAY)
    return ING_FAST_DECLINED;
  if (has_user && user_id.type() == element_type::NULL_VALUE) has_user = false;
  if (has_user && user_id.type() != element_type::STRING) return ING_FAST_DECLINED;
  int64_t mid = message_id.get_int64().value_unsafe();
  string_view sid = session_id.get_string().value_unsafe();
  string_view did = device_id.get_string().value_unsafe();
  string_view uid = has_user ? user_id.get_string().value_unsafe() : string_view();

  fctx c;
  c.b = b;
  size_t count = 0;
  string_view first_name;
  simdjson::dom::array readings = payload.get_array().value_unsafe();
  for (element r : readings) {
    if (r.type() != element_type::OBJECT) return ING_FAST_DECLINED;
    simdjson::dom::object reading = r.get_object().value_unsafe();
    element name, time, values, accuracy;
    int seen = 0;
    key_check reading_keys;
    for (simdjson::dom::key_value_pair kv : reading) {
      if (!reading_keys.add(kv.key)) return ING_FAST_DECLINED;
      if (kv.key == "name") {
        name = kv.value;
        seen |= 1;
      } else if (kv.key == "time") {
        time = kv.value;
        seen |= 2;
      } else if (kv.key == "values") {
        values = kv.value;
        seen |= 4;
      } else if (kv.key == "accuracy") {
        accuracy = kv.value;
        seen |= 8;
      } else {
        seen |= 16; /* keys of later app versions: passed through below */
      }
    }
    int64_t t;
    if (!reading_keys.done(reading) || (seen & 7) != 7 || name.type() != element_type::STRING ||
        values.type() != element_type::OBJECT || !time_value(time, &t))
      return ING_FAST_DECLINED;
    string_view nm = name.get_string().value_unsafe();
    if (nm.empty()) return ING_FAST_DECLINED;
    if (count == 0) first_name = nm;
    if (b->record_begin(b->ctx, t, did.data(), did.size()) ||
        b->field_string(b->ctx, "name", 4, nm.data(), nm.size()) ||
        b->field_int(b->ctx, "time", 4, t) || !field(c, "values", values, true))
      return ING_FAST_DECLINED;
    if ((seen & 8) && !field(c, "accuracy", accuracy, false)) return ING_FAST_DECLINED;
    if (seen & 16) {
      for (simdjson::dom::key_value_pair kv : reading) {
        if (kv.key == "name" || kv.key == "time" || kv.key == "values" ||
            kv.key == "accuracy")
          continue;
        if (!field(c, kv.key, kv.value, true)) return ING_FAST_DECLINED;
      }
    }
    if (b->field_int(b->ctx, "messageId", 9, mid) ||
        b->field_string(b->ctx, "sessionId", 9, sid.data(), sid.size()) ||
        b->field_string(b->ctx, "deviceId", 8, did.data(), did.size()) ||
        (has_user && b->field_string(b->ctx, "userId", 6, uid.data(), uid.size())))
      return ING_FAST_DECLINED;
    count++;
  }

  fbuf reply;
  reply.put("{\"messageId\":");
  dump_int(reply, mid);
  reply.put(",\"sessionId\":");
  dump_string(reply, sid);
  reply.put(",\"deviceId\":");
  dump_string(reply, did);
  reply.put(",\"timestamp\":");
  dump_int(reply, received_ns);
  reply.put('}');
  size_t reply_len = reply.len;
  char *text = reply.take();
  if (!text) return ING_FAST_DECLINED;
  out->records = count;
  out->test_push = count == 1 && first_name == "test";
  out->reply = text;
  out->reply_len = reply_len;
  return ING_FAST_OK;
}

/* One flat record: every key a field, nested objects joined with `_`, integers kept. */
bool flat_record(fctx &c, element r, const ing_records_opts *opts, int64_t received_ns) {
  const rb_builder *b = c.b;
  if (r.type() != element_type::OBJECT) return false;
  simdjson::dom::object obj = r.get_object().value_unsafe();
  key_check keys;
  int64_t t = received_ns;
  string_view key;
  bool has_key = false;
  string_view time_field = opts->time_field ? string_view(opts->time_field) : string_view();
  string_view key_field = opts->key_field ? string_view(opts->key_field) : string_view();
  for (simdjson::dom::key_value_pair kv : obj) {
    if (!keys.add(kv.key)) return false;
    if (opts->time_field && kv.key == time_field && !time_value(kv.value, &t)) return false;
    if (opts->key_field && kv.key == key_field) {
      if (kv.value.type() != element_type::STRING) return false;
      key = kv.value.get_string().value_unsafe();
      has_key = true;
    }
  }
  if (!keys.done(obj) ||
      b->record_begin(b->ctx, t, has_key ? key.data() : nullptr, has_key ? key.size() : 0))
    return false;
  for (simdjson::dom::key_value_pair kv : obj)
    if (!field(c, kv.key, kv.value, false)) return false;
  return true;
}

bool is_blank(char ch) { return ch == ' ' || ch == '\t' || ch == '\r'; }

int records_reply(size_t count, ing_summary *out) {
  fbuf reply;
  reply.put("{\"accepted\":");
  dump_int(reply, static_cast<int64_t>(count));
  reply.put('}');
  size_t len = reply.len;
  char *text = reply.take();
  if (!text) return ING_FAST_DECLINED;
  out->records = count;
  out->reply = text;
  out->reply_len = len;
  return ING_FAST_OK;
}

} // namespace

extern "C" int ing_fast_sensorlogger(const char *body, size_t len, int padded,
                                     int64_t received_ns, const rb_builder *builder,
                                     ing_summary *out) {
  memset(out, 0, sizeof *out);
  if (needs_jansson(body, len)) return ING_FAST_DECLINED;
  doc_parser parser(len);
  element root;
  if (!parser.parse(body, len, padded != 0, &root)) return ING_FAST_DECLINED;
  return sensorlogger(root, received_ns, builder, out);
}

extern "C" int ing_fast_records(const char *body, size_t len, int padded,
                                const ing_records_opts *opts, int64_t received_ns,
                                const rb_builder *builder, ing_summary *out) {
  memset(out, 0, sizeof *out);
  if (needs_jansson(body, len)) return ING_FAST_DECLINED;
  fctx c;
  c.b = builder;
  doc_parser parser(len);
  element root;
  size_t first = 0;
  while (first < len && (is_blank(body[first]) || body[first] == '\n')) first++;
  size_t count = 0;
  if (first < len && body[first] == '[') {
    if (!parser.parse(body, len, padded != 0, &root) || root.type() != element_type::ARRAY)
      return ING_FAST_DECLINED;
    simdjson::dom::array records = root.get_array().value_unsafe();
    for (element r : records) {
      if (!flat_record(c, r, opts, received_ns)) return ING_FAST_DECLINED;
      count++;
    }
    return records_reply(count, out);
  }
  /* NDJSON: one object per line, blank lines skipped, split as ingest.c splits them. A line
   * is followed by the rest of the body, so a padded body pads every line. */
  size_t pos = 0;
  while (pos < len) {
    const char *nl = static_cast<const char *>(memchr(body + pos, '\n', len - pos));
    size_t end = nl ? static_cast<size_t>(nl - body) : len;
    size_t a = pos, z = end;
    while (a < z && is_blank(body[a])) a++;
    while (z > a && is_blank(body[z - 1])) z--;
    pos = end + 1;
    if (a == z) continue;
    if (body[a] != '{' || !parser.parse(body + a, z - a, padded != 0, &root) ||
        !flat_record(c, root, opts, received_ns))
      return ING_FAST_DECLINED;
    count++;
  }
  return records_reply(count, out);
}
