# Fuzz targets. Each target's source defines LLVMFuzzerTestOneInput and lives beside what it
# fuzzes (<component>/fuzz/), with a seed corpus (corpus/<name>/), the inputs that once
# crashed, hung or leaked (regressions/<name>/) and a dictionary (<name>.dict).
#   - With the tests, every component gets `fuzz_replay_<name>`, built with any compiler, and
#     the ctest `<component>_fuzz_<name>` runs the seed corpus and the regressions through it.
#   - With -DXTGRAD_FUZZ=ON and clang, `fuzz_<name>` is a libFuzzer binary (ASan + UBSan):
#     scripts/fuzz.sh <name> <seconds> runs it.
function(xtgrad_fuzz_target component name source)
  set(dir ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)
  if(XTGRAD_BUILD_TESTS)
    add_executable(fuzz_replay_${name} ${dir}/${source} ${PROJECT_SOURCE_DIR}/tests/support/fuzz_replay_main.cpp)
    target_link_libraries(fuzz_replay_${name} PRIVATE xtgrad::${component} xtgrad_warnings)
    add_test(NAME ${component}_fuzz_${name}
             COMMAND fuzz_replay_${name} ${dir}/corpus/${name} ${dir}/regressions/${name})
  endif()
  if(XTGRAD_FUZZ)
    add_executable(fuzz_${name} ${dir}/${source})
    target_link_libraries(fuzz_${name} PRIVATE xtgrad::${component})
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
  endif()
endfunction()
