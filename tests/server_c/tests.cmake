# Unit tests of the server's I/O-free code (esync_server_lib), included by tests/CMakeLists.txt.
# The integration tests (real Postgres, real HTTP) are tests/server/*.test.js (npm run test:server).
if(ESYNC_SERVER)
  add_executable(test_server_lib ${CMAKE_CURRENT_LIST_DIR}/test_server_lib.c)
  target_link_libraries(test_server_lib PRIVATE esync_server_lib)
  target_compile_options(test_server_lib PRIVATE ${ESYNC_WARNINGS})
  add_test(NAME server/test_server_lib COMMAND test_server_lib)
endif()
