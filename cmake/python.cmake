# Python bindings: the extension module lmdeploy._turbomind (pybind11 over lmdeploy_core).
#
#   * `pip install .` (scikit-build-core, see pyproject.toml) configures with
#     -DLMDEPLOY_PYTHON=ON and installs the module next to python/lmdeploy/*.py.
#   * A plain CMake build with -DLMDEPLOY_PYTHON=ON also assembles a complete, importable
#     package in <build>/python/lmdeploy (the .py files are copied there after every build of
#     the module), so tests run against the tree just built:  PYTHONPATH=<build>/python.
#
# pybind11: pip's package (`python3 -m pybind11 --cmakedir`, what scikit-build-core provides
# in its isolated build env) or Debian's pybind11-dev.
option(LMDEPLOY_PYTHON "Build the Python extension module lmdeploy._turbomind (pybind11)" OFF)

if(LMDEPLOY_PYTHON)
  find_package(Python3 COMPONENTS Interpreter Development.Module REQUIRED)
  if(NOT pybind11_DIR)
    execute_process(
      COMMAND ${Python3_EXECUTABLE} -m pybind11 --cmakedir
      OUTPUT_VARIABLE _lmd_pybind11_dir
      OUTPUT_STRIP_TRAILING_WHITESPACE
      RESULT_VARIABLE _lmd_pybind11_rc
      ERROR_QUIET)
    if(_lmd_pybind11_rc EQUAL 0 AND _lmd_pybind11_dir)
      set(pybind11_DIR ${_lmd_pybind11_dir})
    endif()
  endif()
  set(PYBIND11_FINDPYTHON ON)
  find_package(pybind11 CONFIG)
  if(NOT pybind11_FOUND)
    message(FATAL_ERROR
      "LMDEPLOY_PYTHON=ON needs pybind11: `python3 -m pip install pybind11==3.0.1` "
      "(or apt-get install pybind11-dev), or configure with -DLMDEPLOY_PYTHON=OFF")
  endif()

  file(GLOB LMD_PY_BINDING_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/python/bindings/*.cc)
  pybind11_add_module(_turbomind ${LMD_PY_BINDING_SOURCES})
  target_link_libraries(_turbomind PRIVATE lmdeploy_core)
  if(TARGET lmd_backend_cuda)  # device="cuda": the module registers it (turbomind_module.cc)
    target_link_libraries(_turbomind PRIVATE lmd_backend_cuda)
  endif()
  # The module lands inside a package directory of the build tree (see the header).
  set(LMD_PY_PACKAGE_DIR ${CMAKE_BINARY_DIR}/python/lmdeploy)
  set_target_properties(_turbomind PROPERTIES
    LIBRARY_OUTPUT_DIRECTORY ${LMD_PY_PACKAGE_DIR}
    CXX_VISIBILITY_PRESET hidden)
  file(GLOB_RECURSE LMD_PY_FILES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/python/lmdeploy/*.py)
  add_custom_command(TARGET _turbomind POST_BUILD
    COMMAND ${CMAKE_COMMAND} -E copy_directory ${CMAKE_SOURCE_DIR}/python/lmdeploy ${LMD_PY_PACKAGE_DIR}
    COMMENT "assembling the lmdeploy Python package in ${LMD_PY_PACKAGE_DIR}")
  # Re-copy edited .py files even when the module itself is up to date.
  add_custom_target(lmdeploy_python_files ALL
    COMMAND ${CMAKE_COMMAND} -E copy_directory ${CMAKE_SOURCE_DIR}/python/lmdeploy ${LMD_PY_PACKAGE_DIR}
    DEPENDS ${LMD_PY_FILES})
  add_dependencies(lmdeploy_python_files _turbomind)

  install(TARGETS _turbomind LIBRARY DESTINATION lmdeploy)
  if(SKBUILD)
    # `pip install .` also puts the `lmdeploy` command on PATH (the wheel's scripts).
    install(TARGETS lmdeploy RUNTIME DESTINATION ${SKBUILD_SCRIPTS_DIR})
  endif()
endif()
