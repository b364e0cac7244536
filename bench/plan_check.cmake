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
# Winograd: every default plan runs some 3x3 convs as Winograd F(2x2, 3x3) (each of these nets has
# 3x3 stride-1 convs of 16+ channels), and `--winograd never` plans have none (and still no
# reference step).
include(${CMAKE_CURRENT_LIST_DIR}/export_models.cmake)
ts_require_vars(plan_check.cmake EXPORT MODEL_TOOL WORK_DIR MODELS ISAS)
ts_export_models("${EXPORT}" "${WORK_DIR}" "${MODELS}")

string(REPLACE "," ";" model_list "${MODELS}")
string(REPLACE "," ";" isa_list "${ISAS}")
set(failures "")
foreach(model IN LISTS model_list)
  foreach(isa IN LISTS isa_list)
    foreach(winograd auto never)
      set(isa_args --winograd ${winograd})
      if(NOT isa STREQUAL "default")
        list(APPEND isa_args --isa ${isa})
      endif()
      execute_process(COMMAND "${MODEL_TOOL}" inspect "${WORK_DIR}/${model}/1" ${isa_args}
                      RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
      if(NOT rc EQUAL 0 AND err MATCHES "is not available on this CPU")
        message(STATUS "${model} (isa ${isa}): skipped, this CPU lacks it")
        continue()
      elseif(NOT rc EQUAL 0)
        list(APPEND failures
           "${model} (isa ${isa}, winograd ${winograd}): inspect failed (${rc}): ${err}")
        continue()
      endif()
      string(REGEX MATCHALL "[^\n]*reference kernel[^\n]*" reference_steps "${out}")
      # The layer table lists no plan; only the plan's step lines say "reference kernel" or
      # "Winograd".
      list(LENGTH reference_steps n)
      string(REGEX MATCHALL "[^\n]*Winograd F\\(2x2, 3x3\\)[^\n]*" winograd_steps "${out}")
      list(LENGTH winograd_steps n_winograd)
      string(REGEX MATCH "fast engine[^\n]*steps" plan_line "${out}")
      message(STATUS "${model} (isa ${isa}, winograd ${winograd}): ${plan_line}, ${n} reference "
                     "step(s), ${n_winograd} Winograd conv(s)")
      if(n GREATER 0)
        list(JOIN reference_steps "\n    " lines)
        list(APPEND failures "${model} (isa ${isa}): ${n} reference step(s):\n    ${lines}")
      endif()
      if(winograd STREQUAL "auto" AND n_winograd EQUAL 0)
        list(APPEND failures "${model} (isa ${isa}): no Winograd conv in the default plan")
      elseif(winograd STREQUAL "never" AND n_winograd GREATER 0)
        list(APPEND failures
             "${model} (isa ${isa}): ${n_winograd} Winograd conv(s) with --winograd never")
      endif()
    endforeach()
  endforeach()
endforeach()
if(failures)
  list(JOIN failures "\n" text)
  message(FATAL_ERROR "plan check failed:\n${text}")
endif()
