#include "formats/pickle.h"

#include <gtest/gtest.h>

#include <chrono>

#include "support/pickle_builder.h"

namespace modelgrid {
namespace {

using namespace std::string_literals;

using testing::PickleBuilder;

Result<PickleTree> Parse(const PickleBuilder& b) { return ParsePickle(b.bytes()); }

StatusCode CodeOf(const std::string& bytes) { return ParsePickle(bytes).status().code(); }

TEST(Pickle, Scalars) {
  PickleBuilder b;
  b.Proto().Mark().None().Bool(true).Bool(false).Int(-7).Str("héllo");
  b.Raw("K\xff").Raw(std::string("M\x01\x02", 3)).Raw(std::string("\x8a\x02\xff\x7f", 4));
  b.Raw(std::string("\x8a\x01\xff", 3));                                   // LONG1 -1
  b.Raw(std::string("\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01", 11));  // 2^64
  b.Raw(std::string("G\x3f\xf8\x00\x00\x00\x00\x00\x00", 9));              // 1.5
  b.Raw(std::string("C\x02zz", 4));
  b.Tuple().Stop();
  auto tree = Parse(b);
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  const PickleValue* t = tree->root();
  ASSERT_EQ(t->kind, PickleKind::kTuple);
  ASSERT_EQ(t->items.size(), 12u);
  EXPECT_EQ(t->items[0]->kind, PickleKind::kNone);
  EXPECT_TRUE(t->items[1]->bool_value);
  EXPECT_FALSE(t->items[2]->bool_value);
  EXPECT_EQ(t->items[3]->int_value, -7);
  EXPECT_EQ(t->items[4]->text, "héllo");
  EXPECT_EQ(t->items[5]->int_value, 255);
  EXPECT_EQ(t->items[6]->int_value, 0x0201);
  EXPECT_EQ(t->items[7]->int_value, 0x7fff);
  EXPECT_EQ(t->items[8]->int_value, -1);
  EXPECT_EQ(t->items[9]->kind, PickleKind::kBigInt);
  EXPECT_DOUBLE_EQ(t->items[10]->float_value, 1.5);
  EXPECT_EQ(t->items[11]->kind, PickleKind::kBytes);
  EXPECT_EQ(t->items[11]->text, "zz");
}

TEST(Pickle, GlobalsCallsAndPersistentIdsAreSymbolic) {
  PickleBuilder b;
  b.Proto().Tensor("FloatStorage", "0", 6, {2, 3}, {3, 1}).Stop();
  auto tree = Parse(b);
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  const PickleValue* call = tree->root();
  ASSERT_EQ(call->kind, PickleKind::kCall);
  ASSERT_NE(call->CalleeGlobal(), nullptr);
  EXPECT_TRUE(call->CalleeGlobal()->IsGlobal("torch._utils", "_rebuild_tensor_v2"));
  const PickleValue* storage = call->args->items[0];
  ASSERT_EQ(storage->kind, PickleKind::kPersistent);
  EXPECT_EQ(storage->args->items[0]->text, "storage");
  EXPECT_TRUE(storage->args->items[1]->IsGlobal("torch", "FloatStorage"));
  EXPECT_EQ(PickleDebugString(call, 3).substr(0, 50),
            "call(global(torch._utils._rebuild_tensor_v2), (per");
}

TEST(Pickle, DictsListsBuildAndMemo) {
  PickleBuilder b;
  b.Proto().Global("__torch__.M", "Net").Put(0).EmptyTuple().NewObj();
  b.EmptyDict().Mark().Str("layers").EmptyList().Mark().Int(1).Int(2).Appends();
  b.Str("cls").Get(0).SetItems().Build().Stop();
  auto tree = Parse(b);
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  const PickleValue* obj = tree->root();
  ASSERT_EQ(obj->kind, PickleKind::kCall);
  ASSERT_NE(obj->state, nullptr);
  ASSERT_EQ(obj->state->entries.size(), 2u);
  EXPECT_EQ(obj->state->entries[0].first->text, "layers");
  EXPECT_EQ(obj->state->entries[0].second->items.size(), 2u);
  EXPECT_EQ(obj->state->entries[1].second, obj->callee);  // memo shares, never copies
}

TEST(Pickle, StackGlobalAndMemoize) {
  PickleBuilder b;
  b.Proto(4).Raw(std::string("\x95\x00\x00\x00\x00\x00\x00\x00\x00", 9));  // FRAME
  b.Raw("\x8c\x05torch\x94\x8c\x0bHalfStorage\x94\x93\x94");
  b.Raw(std::string("h\x02", 2)).Op(0x86).Stop();
  auto tree = Parse(b);
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  ASSERT_EQ(tree->root()->items.size(), 2u);
  EXPECT_TRUE(tree->root()->items[0]->IsGlobal("torch", "HalfStorage"));
  EXPECT_EQ(tree->root()->items[0], tree->root()->items[1]);
}

TEST(Pickle, RejectsUnknownAndUnsafeOpcodes) {
  EXPECT_EQ(CodeOf("\x80\x02\xff."s), StatusCode::kCorruptData);
  EXPECT_EQ(CodeOf("\x80\x02i__builtin__\neval\n."s), StatusCode::kCorruptData);  // INST
  EXPECT_EQ(CodeOf("\x80\x02(o."s), StatusCode::kCorruptData);                    // OBJ
  EXPECT_EQ(CodeOf("\x80\x09."s), StatusCode::kCorruptData);                      // protocol 9
  auto status = ParsePickle("\x80\x02\xff."s).status();
  EXPECT_NE(status.message().find("0xff"), std::string::npos) << status.ToString();
}

TEST(Pickle, RejectsBadMemoAndStack) {
  EXPECT_EQ(CodeOf("\x80\x02h\x05."s), StatusCode::kCorruptData);  // memo never stored
  EXPECT_EQ(CodeOf("\x80\x02j\x00\x00\x00\x01."s), StatusCode::kCorruptData);
  EXPECT_EQ(CodeOf("\x80\x02q\x00."s), StatusCode::kCorruptData);   // BINPUT on empty
  EXPECT_EQ(CodeOf("\x80\x02."s), StatusCode::kCorruptData);        // STOP on empty
  EXPECT_EQ(CodeOf("\x80\x02R."s), StatusCode::kCorruptData);       // REDUCE underflow
  EXPECT_EQ(CodeOf("\x80\x02N(R."s), StatusCode::kCorruptData);     // across a MARK
  EXPECT_EQ(CodeOf("\x80\x02Nt."s), StatusCode::kCorruptData);      // TUPLE without MARK
  EXPECT_EQ(CodeOf("\x80\x02N(Na."s), StatusCode::kCorruptData);    // APPEND to None
  EXPECT_EQ(CodeOf("\x80\x02}(Nu."s), StatusCode::kCorruptData);    // odd SETITEMS
  EXPECT_EQ(CodeOf("\x80\x02NN\x93."s), StatusCode::kCorruptData);  // STACK_GLOBAL of None
  EXPECT_EQ(CodeOf("\x80\x02"
                   "cfoo."s),
            StatusCode::kCorruptData);  // unterminated GLOBAL
}

TEST(Pickle, EveryTruncationFails) {
  PickleBuilder b;
  b.Proto().Mark().Tensor("HalfStorage", "3", 4, {4}, {1}).Str("x").Tuple().Stop();
  const std::string bytes = b.bytes();
  ASSERT_TRUE(ParsePickle(bytes).ok());
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(ParsePickle(bytes.substr(0, n)).ok()) << n;
  }
}

TEST(Pickle, HugeLengthsAreRejectedWithoutAllocating) {
  EXPECT_EQ(CodeOf(std::string("\x80\x02X\xff\xff\xff\xff", 7)), StatusCode::kCorruptData);
  EXPECT_EQ(CodeOf(std::string("\x80\x04\x8d\xff\xff\xff\xff\xff\xff\xff\xff", 11)),
            StatusCode::kCorruptData);
  EXPECT_EQ(CodeOf(std::string("\x80\x02T\xff\xff\xff\xff", 7)), StatusCode::kCorruptData);
}

TEST(Pickle, BillionLaughsStaysLinear) {
  // l0 = [x, x]; l(i+1) = [l(i), l(i)] ... 2^60 leaves if anything ever copied.
  PickleBuilder b;
  b.Proto().EmptyList().Mark().Str("lol").Str("lol").Appends().Put(0);
  for (uint32_t i = 1; i < 60; ++i) {
    b.EmptyList().Mark().Get(i - 1).Get(i - 1).Appends().Put(i);
  }
  b.Stop();
  const auto start = std::chrono::steady_clock::now();
  auto tree = Parse(b);
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  EXPECT_LT(tree->nodes().size(), 200u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  EXPECT_LT(PickleDebugString(tree->root(), 100, 500).size(), 600u);
}

TEST(Pickle, CyclesDoNotHang) {
  // l = []; l.append(l)
  PickleBuilder b;
  b.Proto().EmptyList().Put(0).Get(0).Op('a').Stop();
  auto tree = Parse(b);
  ASSERT_TRUE(tree.ok()) << tree.status().ToString();
  EXPECT_EQ(tree->root()->items[0], tree->root());
  EXPECT_LT(PickleDebugString(tree->root(), 1000, 100).size(), 200u);
}

TEST(Pickle, EnforcesLimits) {
  PickleBuilder b;
  b.Proto().Mark();
  for (int i = 0; i < 100; ++i) b.None();
  b.Tuple().Stop();
  PickleLimits limits;
  limits.max_stack_items = 50;
  EXPECT_EQ(ParsePickle(b.bytes(), limits).status().code(), StatusCode::kResourceExhausted);
  limits = PickleLimits();
  limits.max_nodes = 50;
  EXPECT_EQ(ParsePickle(b.bytes(), limits).status().code(), StatusCode::kResourceExhausted);
  PickleBuilder memo;
  memo.Proto().None();
  for (uint32_t i = 0; i < 100; ++i) memo.Put(i);
  memo.Stop();
  limits = PickleLimits();
  limits.max_memo_items = 50;
  EXPECT_EQ(ParsePickle(memo.bytes(), limits).status().code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(ParsePickle(b.bytes()).ok());
}

}  // namespace
}  // namespace modelgrid
