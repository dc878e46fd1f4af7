# Unit tests of the server's C code, included by tests/CMakeLists.txt. The integration tests (real
# Postgres, real HTTP) are tests/server/*.test.js (npm run test:server).
add_executable(test_server_lib ${CMAKE_CURRENT_LIST_DIR}/test_server_lib.c)
target_link_libraries(test_server_lib PRIVATE esync_server_lib)
target_compile_options(test_server_lib PRIVATE ${ESYNC_WARNINGS})
add_test(NAME server/test_server_lib COMMAND test_server_lib)

# The shape service's pure modules, and the replication consumer and snapshots against the real
# private cluster (skipped when the cluster cannot be started).
add_executable(test_shape_pure ${CMAKE_CURRENT_LIST_DIR}/test_shape_pure.c
               ${CMAKE_SOURCE_DIR}/src/server/log.c)
target_link_libraries(test_shape_pure PRIVATE esync_shape_lib)
target_compile_options(test_shape_pure PRIVATE ${ESYNC_WARNINGS})
target_compile_definitions(test_shape_pure PRIVATE _GNU_SOURCE)
add_test(NAME server/test_shape_pure COMMAND test_shape_pure)
