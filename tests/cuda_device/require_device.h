// The first statement of every test of cuda_device_tests: without a visible CUDA device the
// test is skipped with the runtime's reason (listing the tests never calls CUDA).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "backend/cuda/cuda_backend.h"

#define LMD_REQUIRE_CUDA_DEVICE()                                                                \
  do {                                                                                           \
    std::string lmd_why_none_;                                                                   \
    if (::lmd::cuda_devices(&lmd_why_none_).empty())                                             \
      GTEST_SKIP() << "requires a CUDA device (" << lmd_why_none_                                \
                   << "); run on a GPU machine: docs/cuda.md, 'What only a GPU can verify'";     \
  } while (0)
