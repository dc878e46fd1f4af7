# The where-clause fuzz target (fuzz/server_where.c) over src/server/where.c alone, so it builds
# with ESYNC_SERVER=OFF too. Its corpus is fuzz/corpus/server_where/ (one clause per file, then
# parameter values on the following lines). Included by fuzz/CMakeLists.txt.
esync_fuzz_target(server_where
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/server_where.c ${CMAKE_SOURCE_DIR}/src/server/where.c
  LIBS m)
foreach(t fuzz_server_where fuzz_server_where_replay)
  if(TARGET ${t})
    target_include_directories(${t} PRIVATE ${CMAKE_SOURCE_DIR}/src/server)
    target_compile_options(${t} PRIVATE ${ESYNC_WARNINGS})
  endif()
endforeach()
