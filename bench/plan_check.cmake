# The ctest bench_model_zoo_plans_have_no_reference_step (label bench): issue 17's "no reference
# step in any of the four plans" as a check that can fail.
#
#   cmake -DEXPORT=bench_export_models -DMODEL_TOOL=theano-serving-model -DWORK_DIR=DIR
#         -DMODELS=vgg16_small,googlenet_small,... -DISAS=default,portable -P plan_check.cmake
#
# Exports MODELS (bench_peers' weights, the layers the importer writes: Lasagne's batch norm with
# inv_std, LRN, concat, global mean pooling) to WORK_DIR, prints each fast plan
# (`theano-serving-model inspect DIR [--isa ISA]`; an ISA this CPU lacks is skipped) and fails if a step runs a layer's reference
# kernel ("reference kernel" in the plan) or if a plan cannot be printed. The *_small variants
# have the full networks' layers at smaller image sizes, so the plans differ only in sizes.
include(${CMAKE_CURRENT_LIST_DIR}/export_models.cmake)
ts_require_vars(plan_check.cmake EXPORT MODEL_TOOL WORK_DIR MODELS ISAS)
ts_export_models("${EXPORT}" "${WORK_DIR}" "${MODELS}")

string(REPLACE "," ";" model_list "${MODELS}")
string(REPLACE "," ";" isa_list "${ISAS}")
set(failures "")
foreach(model IN LISTS model_list)
  foreach(isa IN LISTS isa_list)
    set(isa_args "")
    if(NOT isa STREQUAL "default")
      set(isa_args --isa ${isa})
    endif()
    execute_process(COMMAND "${MODEL_TOOL}" inspect "${WORK_DIR}/${model}/1" ${isa_args}
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT rc EQUAL 0 AND err MATCHES "is not available on this CPU")
      message(STATUS "${model} (isa ${isa}): skipped, this CPU lacks it")
      continue()
    elseif(NOT rc EQUAL 0)
      list(APPEND failures "${model} (isa ${isa}): inspect failed (${rc}): ${err}")
      continue()
    endif()
    string(REGEX MATCHALL "[^\n]*reference kernel[^\n]*" reference_steps "${out}")
    # The layer table lists no plan; only the plan's step lines say "reference kernel".
    list(LENGTH reference_steps n)
    string(REGEX MATCH "fast engine[^\n]*steps" plan_line "${out}")
    message(STATUS "${model} (isa ${isa}): ${plan_line}, ${n} reference step(s)")
    if(n GREATER 0)
      list(JOIN reference_steps "\n    " lines)
      list(APPEND failures "${model} (isa ${isa}): ${n} reference step(s):\n    ${lines}")
    endif()
  endforeach()
endforeach()
if(failures)
  list(JOIN failures "\n" text)
  message(FATAL_ERROR "plans with reference steps:\n${text}")
endif()
