# The ONNX protobuf classes without libonnx-dev: onnx-ml.proto compiled by protoc into a static
# library named like libonnx's (onnx_proto), with the header foil includes (onnx/onnx_pb.h).
set(FOIL_ONNX_PROTO "" CACHE FILEPATH "onnx-ml.proto to generate the ONNX classes from")
if(NOT FOIL_ONNX_PROTO)
  find_package(Python3 COMPONENTS Interpreter)
  if(Python3_FOUND)
    execute_process(
      COMMAND ${Python3_EXECUTABLE} -c "import onnx, os; print(os.path.dirname(onnx.__file__))"
      OUTPUT_VARIABLE onnx_dir OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(EXISTS "${onnx_dir}/onnx-ml.proto")
      set(FOIL_ONNX_PROTO "${onnx_dir}/onnx-ml.proto" CACHE FILEPATH "" FORCE)
    endif()
  endif()
endif()
if(NOT EXISTS "${FOIL_ONNX_PROTO}")
  message(FATAL_ERROR "ONNX: install libonnx-dev, or set FOIL_ONNX_PROTO to an onnx-ml.proto "
                      "(python3 -m pip install onnx has one)")
endif()
message(STATUS "ONNX: generating the message classes from ${FOIL_ONNX_PROTO}")

set(gen ${PROJECT_BINARY_DIR}/onnx_gen)
file(MAKE_DIRECTORY ${gen}/onnx)
configure_file(${FOIL_ONNX_PROTO} ${gen}/proto/onnx/onnx-ml.proto COPYONLY)
add_custom_command(
  OUTPUT ${gen}/onnx/onnx-ml.pb.cc ${gen}/onnx/onnx-ml.pb.h
  COMMAND protobuf::protoc --cpp_out=${gen} -I${gen}/proto ${gen}/proto/onnx/onnx-ml.proto
  DEPENDS ${gen}/proto/onnx/onnx-ml.proto
  COMMENT "protoc onnx-ml.proto")
file(CONFIGURE OUTPUT ${gen}/onnx/onnx_pb.h CONTENT "#pragma once\n#include \"onnx/onnx-ml.pb.h\"\n")
add_library(onnx_proto STATIC ${gen}/onnx/onnx-ml.pb.cc)
set_target_properties(onnx_proto PROPERTIES POSITION_INDEPENDENT_CODE ON)
target_include_directories(onnx_proto PUBLIC $<BUILD_INTERFACE:${gen}>)
target_link_libraries(onnx_proto PUBLIC protobuf::libprotobuf)
