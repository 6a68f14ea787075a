// DynamicLibrary (src/common/dynlib.h) against a real system library (libm.so.6) and names
// that exist nowhere: which candidate loads, what its symbols compute, and that every failure
// is an lmd::Error naming the library, the symbol and dlerror().
#include "common/dynlib.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/error.h"

namespace lmd {
namespace {

const char* const kMissing = "liblmd_no_such_library.so.7";

TEST(DynamicLibrary, MissingLibraryNamesItWhatNeedsItAndEachDlerror) {
  try {
    DynamicLibrary::open({kMissing, "liblmd_no_such_library.so"}, "the dynlib test");
    FAIL() << "expected an error for " << kMissing;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kUnsupported);
    const std::string m = e.what();
    EXPECT_EQ(m.find(std::string("the dynlib test needs ") + kMissing + ": "), 0u) << m;
    // glibc's dlerror() for both candidates, in the order tried.
    const size_t first = m.find(std::string(kMissing) + ": cannot open shared object file");
    const size_t second = m.find("liblmd_no_such_library.so: cannot open shared object file");
    EXPECT_NE(first, std::string::npos) << m;
    EXPECT_NE(second, std::string::npos) << m;
    EXPECT_LT(first, second) << m;
  }
}

TEST(DynamicLibrary, FirstCandidateThatLoadsIsUsed) {
  const auto lib = DynamicLibrary::open({kMissing, "libm.so.6"}, "the dynlib test");
  EXPECT_EQ(lib->name(), "libm.so.6");
  // The dynamic linker's resolved file, not the soname asked for.
  ASSERT_FALSE(lib->path().empty());
  EXPECT_EQ(lib->path().front(), '/') << lib->path();
  EXPECT_NE(lib->path().find("libm.so.6"), std::string::npos) << lib->path();
  // The resolved symbol computes libm's sqrt: IEEE 754 rounds sqrt exactly, so it must match
  // std::sqrt bit for bit whoever computes that (the compiler, the CPU or libm).
  const auto sqrt_fn = lib->function<double (*)(double)>("sqrt");
  for (double x : {0.0, 0.25, 2.0, 1e10, 12345.678}) EXPECT_EQ(sqrt_fn(x), std::sqrt(x)) << x;
}

TEST(DynamicLibrary, MissingSymbolNamesLibrarySymbolAndDlerror) {
  const auto lib = DynamicLibrary::open({"libm.so.6"}, "the dynlib test");
  try {
    lib->symbol("no_such_symbol");
    FAIL() << "expected an error for no_such_symbol";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kUnsupported);
    const std::string m = e.what();
    EXPECT_EQ(m.find(lib->path() + ": symbol no_such_symbol not found ("), 0u) << m;
    EXPECT_NE(m.find("undefined symbol: no_such_symbol"), std::string::npos) << m;  // dlerror()
  }
  EXPECT_NE(lib->symbol("sqrt"), nullptr);  // the library stays usable after a failed lookup
}

TEST(DynamicLibrary, NoCandidatesIsAnInternalError) {
  try {
    DynamicLibrary::open({}, "the dynlib test");
    FAIL() << "expected an error for an empty candidate list";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kInternal);
    EXPECT_NE(std::string(e.what()).find("the dynlib test"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lmd
