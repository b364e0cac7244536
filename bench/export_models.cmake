# Shared by the bench ctest scripts (memory_check.cmake, plan_check.cmake): the -D variables they
# require, and the benchmark models exported with bench_peers' weights.

# Fails naming the first of the variables `script` needs that is not defined.
function(ts_require_vars script)
  foreach(var ${ARGN})
    if(NOT DEFINED ${var})
      message(FATAL_ERROR "${script}: -D${var}=... is required")
    endif()
  endforeach()
endfunction()

# Empties work_dir, then writes work_dir/<model>/1 for each of `models` (comma-separated) with
# `export` (bench_export_models); fails with its output if it fails.
function(ts_export_models export work_dir models)
  file(REMOVE_RECURSE "${work_dir}")
  execute_process(COMMAND "${export}" --out_dir=${work_dir} --models=${models}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "bench_export_models failed (${rc}):\n${out}${err}")
  endif()
  message(STATUS "${out}")
endfunction()
