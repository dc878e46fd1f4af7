# The core's fuzz target: shape responses into the engine (fuzz/core_ingest.c).
esync_fuzz_target(core_ingest SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/core_ingest.c LIBS esync_core)
