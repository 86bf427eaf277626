#include "common/config.h"

#include <gtest/gtest.h>

#include <map>

namespace mp {
namespace {

Environment::Lookup from(std::map<std::string, std::string> values) {
  return [values](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) {
      return std::nullopt;
    }
    return it->second;
  };
}

TEST(Environment, DefaultsApplyWhenUnset) {
  Environment env(from({}));
  EXPECT_EQ(env.port("PORT", 8080, "port"), 8080);
  EXPECT_EQ(env.text("BIND_ADDRESS", "0.0.0.0", "bind"), "0.0.0.0");
  EXPECT_EQ(env.duration("T", std::chrono::seconds(2), "t"), std::chrono::seconds(2));
  EXPECT_TRUE(env.errors().empty());
}

TEST(Environment, ReadsTypedValues) {
  Environment env(from({{"PORT", "3000"}, {"T", "250ms"}, {"N", "7"}, {"LEVEL", "warn"}}));
  EXPECT_EQ(env.port("PORT", 8080, "port"), 3000);
  EXPECT_EQ(env.duration("T", std::chrono::seconds(2), "t"), std::chrono::milliseconds(250));
  EXPECT_EQ(env.integer("N", 1, 1, 10, "n"), 7);
  EXPECT_EQ(env.choice("LEVEL", "info", {"info", "warn"}, "l"), "warn");
  EXPECT_TRUE(env.errors().empty());
}

TEST(Environment, MissingRequiredVariableIsNamed) {
  Environment env(from({}));
  env.requiredUrl("INVENTORY_DATABASE_URL", {"postgresql"}, "database");
  ASSERT_EQ(env.errors().size(), 1u);
  EXPECT_NE(env.errors()[0].find("INVENTORY_DATABASE_URL"), std::string::npos);
}

TEST(Environment, BadValuesAreReportedWithTheVariableName) {
  Environment env(
      from({{"PORT", "70000"}, {"N", "x"}, {"T", "soon"}, {"URL", "mysql://x"}, {"LEVEL", "loud"}}));
  env.port("PORT", 8080, "port");
  env.integer("N", 1, 1, 10, "n");
  env.duration("T", std::chrono::seconds(1), "t");
  env.requiredUrl("URL", {"postgresql", "postgres"}, "db");
  env.choice("LEVEL", "info", {"info"}, "l");
  ASSERT_EQ(env.errors().size(), 5u);
  EXPECT_NE(env.errors()[0].find("PORT"), std::string::npos);
  EXPECT_NE(env.errors()[1].find("N "), std::string::npos);
  EXPECT_NE(env.errors()[2].find("T "), std::string::npos);
  EXPECT_NE(env.errors()[3].find("URL"), std::string::npos);
  // A URL may hold a password: it is never echoed.
  EXPECT_EQ(env.errors()[3].find("mysql://x"), std::string::npos);
  EXPECT_NE(env.errors()[4].find("LEVEL"), std::string::npos);
}

TEST(Environment, HelpListsEverySettingWithDefaults) {
  Environment env(from({}));
  env.port("INVENTORY_APP_PORT", 8080, "HTTP port");
  env.requiredText("SECRET", "a secret");
  auto help = env.help("inventory-app", "summary");
  EXPECT_NE(help.find("INVENTORY_APP_PORT"), std::string::npos);
  EXPECT_NE(help.find("(default: 8080)"), std::string::npos);
  EXPECT_NE(help.find("(required)"), std::string::npos);
}

}  // namespace
}  // namespace mp
