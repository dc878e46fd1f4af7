# The shape service (issue 5): pgoutput decoding, replication, snapshots, shape logs, the HTTP
# API of /v1/shape and the /api/electric proxy. Included by src/server/CMakeLists.txt and by
# tests/server_c/tests.cmake (whichever comes first defines the library).
#   esync_shape_lib: everything but the HTTP glue (no libmicrohttpd), linked by the server, the C
#                    tests and the pgoutput fuzzer. esync_log comes from log.c of whoever links it.
if(NOT TARGET esync_shape_lib)
  find_package(PostgreSQL REQUIRED)
  find_package(Threads REQUIRED)
  set(ESYNC_SHAPE_DIR ${CMAKE_CURRENT_LIST_DIR})
  add_library(esync_shape_lib STATIC
    ${ESYNC_SHAPE_DIR}/pgoutput.c ${ESYNC_SHAPE_DIR}/sbuf.c ${ESYNC_SHAPE_DIR}/shapelog.c
    ${ESYNC_SHAPE_DIR}/shape_table.c ${ESYNC_SHAPE_DIR}/shape_msg.c ${ESYNC_SHAPE_DIR}/snapshot.c
    ${ESYNC_SHAPE_DIR}/repl.c ${ESYNC_SHAPE_DIR}/shape_service.c ${ESYNC_SHAPE_DIR}/shape_params.c
    ${ESYNC_SHAPE_DIR}/where.c)
  target_include_directories(esync_shape_lib PUBLIC ${ESYNC_SHAPE_DIR})
  # esync_server_lib: the esync__x* allocators (common.c)
  target_link_libraries(esync_shape_lib PUBLIC esync_server_lib esync_cjson PostgreSQL::PostgreSQL
                        Threads::Threads m)
  target_compile_options(esync_shape_lib PRIVATE ${ESYNC_WARNINGS})
endif()
