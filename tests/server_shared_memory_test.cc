// System shared memory regions: registration checks, reads and writes within bounds, and a
// client truncating its object after registering (an error, never a SIGBUS).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "server/shared_memory.h"

namespace modelgrid::server {
namespace {

class ServerSharedMemory : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = "/mg-shm-test-" + std::to_string(::getpid());
    fd_ = ::shm_open(key_.c_str(), O_CREAT | O_RDWR, 0600);
    ASSERT_GE(fd_, 0);
    ASSERT_EQ(::ftruncate(fd_, 4096), 0);
  }
  void TearDown() override {
    ::close(fd_);
    ::shm_unlink(key_.c_str());
  }
  std::string key_;
  int fd_ = -1;
  SystemSharedMemory shm_;
};

TEST_F(ServerSharedMemory, RegistersReadsWritesAndUnregisters) {
  ASSERT_TRUE(shm_.Register("r", key_, 1024, 64).ok());
  auto status = shm_.RegionStatus("");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(*status, nlohmann::json::parse(R"([{"name":"r","key":")" + key_ +
                                           R"(","offset":1024,"byte_size":64}])"));
  auto region = shm_.Find("r");
  ASSERT_TRUE(region.ok());
  ASSERT_TRUE((*region)->Write({"r", 16, 8}, "abcdefgh").ok());
  char raw[8];
  ASSERT_EQ(::pread(fd_, raw, 8, 1024 + 8), 8);  // the region starts at its offset
  EXPECT_EQ(std::string(raw, 8), "abcdefgh");
  auto read = (*region)->Read({"r", 4, 10});
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(*read, "cdef");
  shm_.Unregister("r");
  EXPECT_FALSE(shm_.Find("r").ok());
  EXPECT_TRUE((*region)->Read({"r", 4, 10}).ok());  // a holder keeps it open
}

TEST_F(ServerSharedMemory, RefusesBadRegistrationsAndOutOfBoundsAccess) {
  EXPECT_FALSE(shm_.Register("r", "no-slash", 0, 8).ok());
  EXPECT_FALSE(shm_.Register("r", "/a/b", 0, 8).ok());
  EXPECT_FALSE(shm_.Register("r", "/mg-shm-test-missing", 0, 8).ok());
  EXPECT_FALSE(shm_.Register("r", key_, 4000, 200).ok());  // past the object's end
  EXPECT_FALSE(shm_.Register("r", key_, 0, 0).ok());
  ASSERT_TRUE(shm_.Register("r", key_, 0, 64).ok());
  EXPECT_FALSE(shm_.Register("r", key_, 0, 64).ok());  // the name is taken
  auto region = shm_.Find("r");
  ASSERT_TRUE(region.ok());
  EXPECT_FALSE((*region)->Read({"r", 65, 0}).ok());
  EXPECT_FALSE((*region)->Read({"r", 8, 60}).ok());
  EXPECT_FALSE((*region)->Write({"r", 4, 0}, "too long").ok());  // more than byte_size
  EXPECT_FALSE(shm_.RegionStatus("other").ok());
}

TEST_F(ServerSharedMemory, ATruncatedObjectIsAnErrorNotACrash) {
  ASSERT_TRUE(shm_.Register("r", key_, 0, 4096).ok());
  auto region = shm_.Find("r");
  ASSERT_TRUE(region.ok());
  ASSERT_EQ(::ftruncate(fd_, 16), 0);
  auto read = (*region)->Read({"r", 1024, 0});
  ASSERT_FALSE(read.ok());
  EXPECT_NE(read.status().message().find("truncated"), std::string::npos);
}

}  // namespace
}  // namespace modelgrid::server
