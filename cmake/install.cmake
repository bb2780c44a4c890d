# `cmake --install`: the foil executable (component runtime); the library, its public headers
# and the CMake package foilConfig.cmake / foilTargets.cmake (component development).
# `cpack -G DEB` in the build folder turns them into foil_*.deb and libfoil-dev_*.deb, and,
# where the Python module is built (cmake/python.cmake), python3-foil_*.deb.
include(CMakePackageConfigHelpers)

# Installed foil finds a LibTorch outside the system folders (a PyTorch wheel's) by RPATH.
set_target_properties(foil PROPERTIES INSTALL_RPATH_USE_LINK_PATH ON)
install(TARGETS foil RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
install(TARGETS foil_lib EXPORT foilTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development)
install(DIRECTORY include/foil DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT development
        FILES_MATCHING PATTERN "*.h")
install(FILES ${PROJECT_BINARY_DIR}/include/foil/version.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/foil COMPONENT development)

set(FOIL_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/foil)
install(EXPORT foilTargets NAMESPACE foil:: DESTINATION ${FOIL_CMAKE_DIR} COMPONENT development)
configure_package_config_file(cmake/foilConfig.cmake.in ${PROJECT_BINARY_DIR}/foilConfig.cmake
                              INSTALL_DESTINATION ${FOIL_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/foilConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/foilConfig.cmake ${PROJECT_BINARY_DIR}/foilConfigVersion.cmake
        DESTINATION ${FOIL_CMAKE_DIR} COMPONENT development)

# Debian packages. foil's run-time dependencies come from dpkg-shlibdeps (the libraries the
# executable links); the built-in default audit also needs Debian's Fashion-MNIST.
set(CPACK_PACKAGE_NAME foil)
set(CPACK_PACKAGE_VENDOR "foil")
set(CPACK_PACKAGE_CONTACT "foil maintainers <foil@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "how easily an image model can be fooled, where, and what helps")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR DEB)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime development)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME foil)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS "dataset-fashion-mnist")
# Without OpenBLAS LibTorch's linear layers fall back to the reference BLAS (~20x slower).
set(CPACK_DEBIAN_RUNTIME_PACKAGE_RECOMMENDS "libopenblas0-openmp")
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_NAME libfoil-dev)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS
    "libtorch-dev, libopencv-dev, nlohmann-json3-dev, libfmt-dev, libonnx-dev, libprotobuf-dev, zlib1g-dev")
set(CPACK_COMPONENT_DEVELOPMENT_DEPENDS runtime)
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)  # libfoil-dev: foil (= version)
if(TARGET foil_python)
  # The module links the library statically and libtorch_python from python3-torch's
  # libtorch; it is built for one Python version. The default model trains on Fashion-MNIST.
  list(APPEND CPACK_COMPONENTS_ALL python)
  set(CPACK_DEBIAN_PYTHON_PACKAGE_NAME python3-foil)
  set(CPACK_DEBIAN_PYTHON_PACKAGE_SECTION python)
  set(CPACK_DEBIAN_PYTHON_PACKAGE_SHLIBDEPS ON)
  math(EXPR FOIL_PYTHON_NEXT "${Python3_VERSION_MINOR} + 1")
  set(CPACK_DEBIAN_PYTHON_PACKAGE_DEPENDS
      "python3 (>= 3.${Python3_VERSION_MINOR}), python3 (<< 3.${FOIL_PYTHON_NEXT}), python3-torch, dataset-fashion-mnist")
  set(CPACK_DEBIAN_PYTHON_PACKAGE_RECOMMENDS "libopenblas0-openmp")
  set(CPACK_COMPONENT_PYTHON_DESCRIPTION "foil from Python: attacks, AutoAttack, patches, explanations on PyTorch tensors")
endif()
set(CPACK_COMPONENT_RUNTIME_DESCRIPTION "foil command-line tool")
set(CPACK_COMPONENT_DEVELOPMENT_DESCRIPTION "foil C++ library, headers and CMake package")
include(CPack)
