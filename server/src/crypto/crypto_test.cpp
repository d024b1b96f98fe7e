#include <gtest/gtest.h>

#include <alter/testing/temp_dir.hpp>
#include <sys/stat.h>

#include <fstream>

#include "crypto/aead.hpp"
#include "crypto/crypto.hpp"
#include "crypto/keyring.hpp"

namespace alter::server::crypto {
namespace {

TEST(Crypto, Base64RoundTripsAndIsStrict) {
  for (std::string s : {std::string(""), std::string("f"), std::string("fo"), std::string("foo"), std::string("foob"),
                        std::string("\0\xff\x10", 3)}) {
    if (s.empty()) continue;
    auto enc = base64_encode(s);
    auto dec = base64_decode(enc);
    ASSERT_TRUE(dec.has_value()) << enc;
    EXPECT_EQ(*dec, s);
  }
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_FALSE(base64_decode("Zm9vYmF").has_value());   // bad length
  EXPECT_FALSE(base64_decode("Zm9v!mFy").has_value());  // bad char
  EXPECT_FALSE(base64_decode("").has_value());
  EXPECT_EQ(base64_decode("Zm9vYmFy\n").value(), "foobar");
}

TEST(Crypto, Base64UrlHasNoPaddingOrUnsafeChars) {
  const std::string s("\xfb\xff\xfe", 3);
  EXPECT_EQ(base64url_encode(s), "-__-");
  EXPECT_EQ(base64url_encode("f"), "Zg");
}

TEST(Crypto, Sha256KnownAnswer) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Crypto, HmacKnownAnswer) {  // RFC 4231 test case 2
  EXPECT_EQ(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Crypto, UuidShape) {
  auto a = new_uuid();
  auto b = new_uuid();
  EXPECT_NE(a, b);
  ASSERT_EQ(a.size(), 36u);
  EXPECT_EQ(a[14], '7');
  EXPECT_LE(a.substr(0, 13), b.substr(0, 13));  // time-ordered
  EXPECT_TRUE(a[19] == '8' || a[19] == '9' || a[19] == 'a' || a[19] == 'b');
}

TEST(Crypto, ConstantTimeEqual) {
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "ab"));
  EXPECT_TRUE(constant_time_equal("", ""));
}

TEST(Aead, SealsAndOpens) {
  const std::string key = random_bytes(kKeySize);
  const std::string blob = seal(key, 7, "token-value", "aad");
  EXPECT_EQ(blob.size(), kHeaderSize + kNonceSize + 11 + kTagSize);
  EXPECT_EQ(blob.find("token-value"), std::string::npos);
  EXPECT_EQ(blob_key_version(blob).value(), 7u);
  EXPECT_EQ(open(key, blob, "aad").value(), "token-value");
}

TEST(Aead, NoncesDiffer) {
  const std::string key = random_bytes(kKeySize);
  EXPECT_NE(seal(key, 1, "same", "a"), seal(key, 1, "same", "a"));
}

TEST(Aead, RejectsWrongKeyAadOrAnyFlippedByte) {
  const std::string key = random_bytes(kKeySize);
  const std::string blob = seal(key, 1, "secret", "table|row|field");
  EXPECT_FALSE(open(random_bytes(kKeySize), blob, "table|row|field").has_value());
  EXPECT_FALSE(open(key, blob, "table|other-row|field").has_value());
  for (std::size_t i = 0; i < blob.size(); ++i) {
    std::string bad = blob;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    EXPECT_FALSE(open(key, bad, "table|row|field").has_value()) << "byte " << i;
  }
  EXPECT_FALSE(open(key, blob.substr(0, 10), "table|row|field").has_value());
  EXPECT_FALSE(open(key.substr(1), blob, "table|row|field").has_value());
}

TEST(Keyring, SealsWithActiveAndOpensOlderVersions) {
  auto master = MasterKey::random();
  std::vector<KeyringEntry> entries{Keyring::make_entry(1, master, {})};
  auto ring = Keyring::open(entries, master);
  ASSERT_TRUE(ring.ok());
  auto& kr = *ring.value();
  EXPECT_EQ(kr.active_version(), 1u);
  auto old_blob = kr.seal("s1", std::string("connections|c1|tokens"));
  EXPECT_EQ(old_blob.key_version, 1u);

  auto e2 = Keyring::make_entry(2, master, {});
  ASSERT_TRUE(kr.install(e2, master).ok());
  EXPECT_EQ(kr.active_version(), 2u);
  auto new_blob = kr.seal("s2", std::string("connections|c1|tokens"));
  EXPECT_EQ(new_blob.key_version, 2u);
  EXPECT_EQ(kr.open(old_blob, std::string("connections|c1|tokens")).value().reveal(), "s1");
  EXPECT_EQ(kr.open(new_blob, std::string("connections|c1|tokens")).value().reveal(), "s2");
  // Bound to row and field.
  EXPECT_FALSE(kr.open(new_blob, std::string("connections|c2|tokens")).ok());
  EXPECT_FALSE(kr.open(new_blob, std::string("provider_credentials|c1|tokens")).ok());
}

TEST(Keyring, WrongMasterKeyFailsToOpen) {
  auto master = MasterKey::random();
  std::vector<KeyringEntry> entries{Keyring::make_entry(1, master, {})};
  auto other = MasterKey::random();
  auto ring = Keyring::open(entries, other);
  ASSERT_FALSE(ring.ok());
  EXPECT_EQ(ring.error().code, "wrong_master_key");
}

TEST(MasterKey, FromBase64ChecksLengthAndNeverEchoes) {
  EXPECT_TRUE(MasterKey::from_base64(base64_encode(std::string(32, 'k'))).ok());
  auto bad = MasterKey::from_base64(base64_encode(std::string(16, 'k')));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message.find(base64_encode(std::string(16, 'k'))), std::string::npos);
  EXPECT_FALSE(MasterKey::from_base64("not base64!").ok());
}

TEST(MasterKey, FileIsCreated0600AndLoads) {
  testing::TempDir dir;
  const auto file = dir.path() / "master.key";
  auto created = MasterKey::create_file(file);
  ASSERT_TRUE(created.ok());
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto loaded = MasterKey::load(nullptr, file);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->bytes(), created->bytes());
  EXPECT_FALSE(MasterKey::create_file(file).ok());  // never overwrites
  ::chmod(file.c_str(), 0644);
  auto loose = MasterKey::load(nullptr, file);
  ASSERT_FALSE(loose.ok());
  EXPECT_EQ(loose.error().code, "master_key_permissions");
  // The environment wins over the file.
  const std::string env = base64_encode(std::string(32, 'e'));
  EXPECT_EQ(MasterKey::load(env.c_str(), file).value().bytes(), std::string(32, 'e'));
  EXPECT_FALSE(MasterKey::load(nullptr, dir.path() / "missing.key").ok());
}

}  // namespace
}  // namespace alter::server::crypto
