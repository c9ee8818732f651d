// The one Catch2 main shared by unit_tests and the per-module unit_<module> binaries.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
