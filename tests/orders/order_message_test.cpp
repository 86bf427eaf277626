// Order validation shared by the gateway and billing-app: the rules of docs/contract.md, exact amounts, clear
// reasons.
#include "orders/order_message.h"

#include <gtest/gtest.h>

namespace mp {
namespace {

OrderMessage parseOk(const std::string& body) {
  auto order = parseOrderMessage(body);
  EXPECT_TRUE(order.ok()) << body << ": " << order.status().message();
  return order.ok() ? *order : OrderMessage{};
}

std::string parseError(const std::string& body) {
  auto order = parseOrderMessage(body);
  EXPECT_FALSE(order.ok()) << body;
  return order.status().message();
}

TEST(OrderMessage, CanonicalStringsExample) {
  OrderMessage order = parseOk(R"({"user_id":"3","number_of_items":"5","total_amount":"180"})");
  EXPECT_EQ(order.userId, "3");
  EXPECT_EQ(order.numberOfItems, 5);
  EXPECT_EQ(order.totalCents, 18000);
  EXPECT_EQ(order.totalAmountText(), "180.00");
}

TEST(OrderMessage, NumbersAreTakenAsWritten) {
  OrderMessage order =
      parseOk(R"({"user_id":3,"number_of_items":5,"total_amount":0.1, "extra":[1,{"a":2}]})");
  EXPECT_EQ(order.userId, "3");
  EXPECT_EQ(order.numberOfItems, 5);
  EXPECT_EQ(order.totalCents, 10);
  EXPECT_EQ(order.totalAmountText(), "0.10");
  // 0.29 * 100 is 28.999... in binary floating point; the text route keeps it exact.
  EXPECT_EQ(parseOk(R"({"user_id":"u","number_of_items":1,"total_amount":0.29})").totalCents, 29);
  EXPECT_EQ(
      parseOk(R"({"user_id":"u","number_of_items":1,"total_amount":"9999999999.99"})").totalAmountText(),
      "9999999999.99");
  EXPECT_EQ(parseOk(R"({"user_id":"u","number_of_items":"007","total_amount":"0"})").numberOfItems, 7);
  EXPECT_EQ(parseOk(R"({"user_id":"u","number_of_items":1,"total_amount":"12.5"})").totalAmountText(),
            "12.50");
  EXPECT_EQ(parseOk(R"({"user_id":"u","number_of_items":1,"total_amount":-0})").totalCents, 0);
}

TEST(OrderMessage, RejectsWhatTheIssueNames) {
  EXPECT_NE(parseError("{not json").find("not valid JSON"), std::string::npos);
  EXPECT_NE(parseError(R"([{"user_id":"3","number_of_items":"5","total_amount":"180"}])").find("JSON object"),
            std::string::npos);
  EXPECT_NE(parseError(R"({"number_of_items":"5","total_amount":"180"})").find("\"user_id\" is missing"),
            std::string::npos);
  EXPECT_NE(parseError(R"({"user_id":"3","total_amount":"180"})").find("number_of_items"), std::string::npos);
  EXPECT_NE(parseError(R"({"user_id":"3","number_of_items":"5"})").find("total_amount"), std::string::npos);
  EXPECT_NE(parseError(R"({"user_id":"3","number_of_items":"5","total_amount":"-1"})").find("negative"),
            std::string::npos);
  EXPECT_NE(parseError(R"({"user_id":"3","number_of_items":"5","total_amount":-0.01})").find("negative"),
            std::string::npos);
  EXPECT_NE(
      parseError(R"({"user_id":"3","number_of_items":"abc","total_amount":"180"})").find("positive integer"),
      std::string::npos);
}

TEST(OrderMessage, RejectsEdgeCases) {
  const char* bodies[] = {
      R"({"user_id":"","number_of_items":1,"total_amount":1})",
      R"({"user_id":null,"number_of_items":1,"total_amount":1})",
      R"({"user_id":{"id":3},"number_of_items":1,"total_amount":1})",
      R"({"user_id":"3","number_of_items":0,"total_amount":1})",
      R"({"user_id":"3","number_of_items":-2,"total_amount":1})",
      R"({"user_id":"3","number_of_items":2.5,"total_amount":1})",
      R"({"user_id":"3","number_of_items":"5.0","total_amount":1})",
      R"({"user_id":"3","number_of_items":2147483648,"total_amount":1})",
      R"({"user_id":"3","number_of_items":true,"total_amount":1})",
      R"({"user_id":"3","number_of_items":1,"total_amount":"1.234"})",
      R"({"user_id":"3","number_of_items":1,"total_amount":1e3})",
      R"({"user_id":"3","number_of_items":1,"total_amount":"12."})",
      R"({"user_id":"3","number_of_items":1,"total_amount":".5"})",
      R"({"user_id":"3","number_of_items":1,"total_amount":" 5"})",
      R"({"user_id":"3","number_of_items":1,"total_amount":"10000000000"})",
      R"({"user_id":"3","number_of_items":1,"total_amount":"NaN"})",
      R"({"user_id":"3","number_of_items":1,"total_amount":[1]})",
      R"({"user_id":"3","user_id":"4","number_of_items":1,"total_amount":1})",
      R"({"user_id":"a\u0000b","number_of_items":1,"total_amount":1})",
      R"({"user_id":"3","number_of_items":1,"total_amount":1} trailing)",
      R"("just a string")",
      "",
      "\xff\xfe",
  };
  for (const char* body : bodies) {
    std::string error = parseError(body);
    EXPECT_FALSE(error.empty()) << body;
  }
  EXPECT_NE(
      parseError(R"({"user_id":")" + std::string(256, 'x') + R"(","number_of_items":1,"total_amount":1})")
          .find("longer"),
      std::string::npos);
}

TEST(OrderMessage, DeepNestingIsHandledWithoutRecursion) {
  std::string deep = R"({"user_id":"3","number_of_items":1,"total_amount":1,"x":)" +
                     std::string(100000, '[') + std::string(100000, ']') + "}";
  parseOk(deep);
}

}  // namespace
}  // namespace mp
