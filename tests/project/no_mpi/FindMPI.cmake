# Stands in for CMake's FindMPI on a machine without MPI (install_consumer.sh puts this folder
# first on CMAKE_MODULE_PATH): MPI is reported not found.
set(MPI_FOUND FALSE)
set(MPI_CXX_FOUND FALSE)
if(MPI_FIND_REQUIRED)
  message(FATAL_ERROR "Could NOT find MPI (the stand-in for a machine without MPI)")
endif()
