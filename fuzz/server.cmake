# The server's fuzz target: request parsing and JSON body validation (fuzz/server_request.c) over
# esync_server_lib, the server's I/O-free code. Its corpus is fuzz/corpus/server_request/.
esync_fuzz_target(server_request
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/server_request.c
  LIBS esync_server_lib)
