# source_gen: synthetic Sensor Logger readings at a fixed rate (tests, demos, benchmarks).
source_gen_LIBS := -lm
