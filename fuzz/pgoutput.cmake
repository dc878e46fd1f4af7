# The shape service's fuzz target: the pgoutput / replication CopyData decoder
# (fuzz/server_pgoutput.c over esync_shape_lib). Corpus: fuzz/corpus/server_pgoutput/.
esync_fuzz_target(server_pgoutput
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/server_pgoutput.c
  LIBS esync_shape_lib)
