# sink_stdout: writes every record as one NDJSON line to stdout or a file.
sink_stdout_LIBS := -ljansson
