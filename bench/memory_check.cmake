# The ctest bench_lenet_no_heap_growth_over_2000_runs (label bench): issue 3's "no per-request heap
# growth" as a check that can fail.
#
#   cmake -DEXPORT=bench_export_models -DMODEL_TOOL=theano-serving-model -DWORK_DIR=DIR
#         -DRUNS=2000 -DMAX_RSS_GROWTH_MB=1 -DMAX_HEAP_GROWTH_BYTES=32768 -P memory_check.cmake
#
# Exports the benchmark model MODEL (default lenet; bench_peers' weights) to WORK_DIR/MODEL/1, runs
# `theano-serving-model bench WORK_DIR/MODEL/1 --batch BATCH --runs RUNS --json` (BATCH default 1)
# and fails unless
#   rss_end_mb - rss_warm_mb < MAX_RSS_GROWTH_MB   (resident set, after batch 1 vs after the last)
#   heap_growth_bytes < MAX_HEAP_GROWTH_BYTES      (bytes malloc holds in use, same two points)
# What makes it fail: anything a batch allocates and never frees. glibc's smallest heap chunk is 32
# bytes, so a single leaked allocation per batch, however small, adds >= 64 000 bytes over 2000 runs
# and fails the heap check (a leaked 40-byte object measured 114 432 bytes); a leaked activation
# buffer or a leaked 4 KiB per batch (measured: +7.9 MiB) fails the RSS check too, and so does a
# cache that grows per request. Without a leak the heap figure is a constant 64-144 bytes (not per
# batch) and the RSS growth 0-0.1 MiB. The RSS check also sees memory outside malloc (mmap by a
# runtime, thread stacks) that the heap check cannot.
include(${CMAKE_CURRENT_LIST_DIR}/export_models.cmake)
ts_require_vars(memory_check.cmake EXPORT MODEL_TOOL WORK_DIR RUNS MAX_RSS_GROWTH_MB
                MAX_HEAP_GROWTH_BYTES)
if(NOT DEFINED MODEL)
  set(MODEL lenet)
endif()
if(NOT DEFINED BATCH)
  set(BATCH 1)
endif()
ts_export_models("${EXPORT}" "${WORK_DIR}" "${MODEL}")

execute_process(COMMAND "${MODEL_TOOL}" bench "${WORK_DIR}/${MODEL}/1" --batch ${BATCH} --runs ${RUNS}
                        --json
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "theano-serving-model bench failed (${rc}):\n${out}${err}")
endif()
message(STATUS "${out}")

foreach(field batches rss_warm_mb rss_end_mb rss_growth_mb peak_rss_mb heap_growth_bytes)
  string(JSON ${field} ERROR_VARIABLE json_error GET "${out}" ${field})
  if(json_error)
    message(FATAL_ERROR "no ${field} in the bench output: ${json_error}\n${out}")
  endif()
endforeach()

if(NOT batches EQUAL RUNS)
  message(FATAL_ERROR "--runs ${RUNS} ran ${batches} batches")
endif()
if(NOT rss_warm_mb GREATER 0 OR NOT peak_rss_mb GREATER_EQUAL rss_end_mb)
  message(FATAL_ERROR "implausible RSS figures: warm ${rss_warm_mb} MiB, end ${rss_end_mb} MiB, "
                      "peak ${peak_rss_mb} MiB")
endif()
if(NOT rss_growth_mb LESS MAX_RSS_GROWTH_MB)
  message(FATAL_ERROR "RSS grew by ${rss_growth_mb} MiB over ${RUNS} runs (${rss_warm_mb} MiB "
                      "after the first batch, ${rss_end_mb} MiB after the last); the limit is "
                      "${MAX_RSS_GROWTH_MB} MiB")
endif()
if(NOT heap_growth_bytes LESS MAX_HEAP_GROWTH_BYTES)
  message(FATAL_ERROR "the heap in use grew by ${heap_growth_bytes} bytes over ${RUNS} runs; the "
                      "limit is ${MAX_HEAP_GROWTH_BYTES}")
endif()
message(STATUS "OK: over ${RUNS} runs RSS ${rss_warm_mb} -> ${rss_end_mb} MiB "
               "(growth ${rss_growth_mb}), heap in use ${heap_growth_bytes} bytes, peak RSS "
               "${peak_rss_mb} MiB")
