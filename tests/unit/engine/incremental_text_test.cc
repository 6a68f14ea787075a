// IncrementalText (src/engine/incremental_text.h): streamed text never splits a UTF-8
// character and keeps the detokenizer's context.
#include "engine/incremental_text.h"

#include <gtest/gtest.h>

#include "tests/unit/engine/mock_model.h"

namespace lmd {
namespace {

TEST(IncrementalTextTest, HoldsIncompleteUtf8AndKeepsContext) {
  // Ids 2 and 3 are the two bytes of "é"; 4 is " x"; 5 is "y".
  test::MockCodec codec({"", "", "\xC3", "\xA9", " x", "y"});
  IncrementalText t(codec, {5});
  EXPECT_EQ(t.push(4), " x");
  EXPECT_EQ(t.push(2), "");  // half a character
  EXPECT_EQ(t.push(3), "\xC3\xA9");
  EXPECT_EQ(t.push(2), "");
  EXPECT_EQ(t.flush(), "\xC3");
  EXPECT_TRUE(ends_incomplete_utf8("ab\xE2\x82"));
  EXPECT_FALSE(ends_incomplete_utf8("ab\xE2\x82\xAC"));
  EXPECT_TRUE(ends_incomplete_utf8("ab\xEF\xBF\xBD"));
}

}  // namespace
}  // namespace lmd
