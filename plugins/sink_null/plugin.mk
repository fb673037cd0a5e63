# sink_null: counts and discards records; can delay or fail completions (tests).
sink_null_LIBS :=
