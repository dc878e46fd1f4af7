# Unit tests of the server's I/O-free code (esync_server_lib), included by tests/CMakeLists.txt.
# The integration tests (real Postgres, real HTTP) are tests/server/*.test.js (npm run test:server).
if(ESYNC_SERVER)
  add_executable(test_server_lib ${CMAKE_CURRENT_LIST_DIR}/test_server_lib.c)
  target_link_libraries(test_server_lib PRIVATE esync_server_lib)
  target_compile_options(test_server_lib PRIVATE ${ESYNC_WARNINGS})
  add_test(NAME server/test_server_lib COMMAND test_server_lib)
endif()

# The where-clause module (src/server/where.c) on its own: libc and libm only, no server library,
# so it is tested even when ESYNC_SERVER is OFF. Its Postgres equivalence test is
# tests/server/where-pg.test.js.
add_executable(test_where ${CMAKE_CURRENT_LIST_DIR}/test_where.c ${CMAKE_SOURCE_DIR}/src/server/where.c)
target_include_directories(test_where PRIVATE ${CMAKE_SOURCE_DIR}/src/server)
target_compile_options(test_where PRIVATE ${ESYNC_WARNINGS})
target_link_libraries(test_where PRIVATE m)
add_test(NAME server/where COMMAND test_where)

# The shape service (src/server/shape.cmake): its pure modules, and the replication consumer and
# snapshots against the real private cluster (skipped when the cluster cannot be started).
if(ESYNC_SERVER)
  include(${CMAKE_SOURCE_DIR}/src/server/shape.cmake)
  add_executable(test_shape_pure ${CMAKE_CURRENT_LIST_DIR}/test_shape_pure.c
                 ${CMAKE_SOURCE_DIR}/src/server/log.c)
  target_link_libraries(test_shape_pure PRIVATE esync_shape_lib)
  target_compile_options(test_shape_pure PRIVATE ${ESYNC_WARNINGS})
  target_compile_definitions(test_shape_pure PRIVATE _GNU_SOURCE)
  add_test(NAME server/test_shape_pure COMMAND test_shape_pure)
endif()
