# The where-clause compiler (src/where) on its own. Its Postgres equivalence test is
# tests/server/where-pg.test.js.
add_executable(test_where ${CMAKE_CURRENT_LIST_DIR}/test_where.c)
target_link_libraries(test_where PRIVATE esync_where)
target_compile_options(test_where PRIVATE ${ESYNC_WARNINGS})
add_test(NAME where/test_where COMMAND test_where)
