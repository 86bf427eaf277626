#include "orders/order_message.h"

#include <limits>
#include <nlohmann/json.hpp>

namespace mp {
namespace {

// The text of one top-level member as written: a JSON string's value or a number's lexeme.
struct FieldText {
  bool present = false;
  bool scalar = false;  // string or number
  std::string text;
};

// SAX reader that keeps the three order members of a top-level object exactly as written (a DOM parse
// would turn 0.1 into a double before we could see its digits). Not thread-safe: one per parse.
class OrderFieldsReader : public nlohmann::json_sax<nlohmann::json> {
 public:
  FieldText userId;
  FieldText numberOfItems;
  FieldText totalAmount;
  std::string error;
  bool topLevelObject = false;

  bool null() override { return value(false, ""); }
  bool boolean(bool) override { return value(false, ""); }
  bool number_integer(number_integer_t number) override { return value(true, std::to_string(number)); }
  bool number_unsigned(number_unsigned_t number) override { return value(true, std::to_string(number)); }
  bool number_float(number_float_t, const string_t& lexeme) override { return value(true, lexeme); }
  bool string(string_t& text) override { return value(true, text); }
  bool binary(binary_t&) override { return value(false, ""); }

  bool start_object(std::size_t) override { return open(true); }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(false); }
  bool end_array() override { return close(); }

  bool key(string_t& name) override {
    current_ = nullptr;
    if (depth_ != 1) {
      return true;
    }
    if (name == "user_id") {
      current_ = &userId;
    } else if (name == "number_of_items") {
      current_ = &numberOfItems;
    } else if (name == "total_amount") {
      current_ = &totalAmount;
    }
    if (current_ != nullptr && current_->present) {
      error = "\"" + name + "\" appears twice";
      return false;
    }
    return true;
  }

  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception&) override {
    error = "the body is not valid JSON (error at byte " + std::to_string(position) + ")";
    return false;
  }

 private:
  // A primitive value; it belongs to an order member only when seen at depth 1 right after its key.
  // `isScalar` is false for null, booleans and binary, which no member accepts.
  bool value(bool isScalar, const std::string& text) {
    if (depth_ == 0) {
      topLevelObject = false;
      return true;
    }
    if (depth_ == 1 && current_ != nullptr) {
      current_->present = true;
      current_->scalar = isScalar;
      current_->text = text;
      current_ = nullptr;
    }
    return true;
  }

  bool open(bool object) {
    if (depth_ == 0) {
      topLevelObject = object;
    } else if (depth_ == 1 && current_ != nullptr) {
      current_->present = true;
      current_->scalar = false;
      current_ = nullptr;
    }
    ++depth_;
    return true;
  }

  bool close() {
    --depth_;
    return true;
  }

  int depth_ = 0;
  FieldText* current_ = nullptr;
};

bool allDigits(std::string_view text) {
  if (text.empty()) {
    return false;
  }
  for (char c : text) {
    if (c < '0' || c > '9') {
      return false;
    }
  }
  return true;
}

std::string_view withoutLeadingZeros(std::string_view digits) {
  while (digits.size() > 1 && digits.front() == '0') {
    digits.remove_prefix(1);
  }
  return digits;
}

Status requireScalar(const FieldText& field, const char* name) {
  if (!field.present) {
    return Status::invalidArgument(std::string("\"") + name + "\" is missing");
  }
  if (!field.scalar) {
    return Status::invalidArgument(std::string("\"") + name + "\" must be a string or a number");
  }
  return okStatus();
}

}  // namespace

std::string OrderMessage::totalAmountText() const {
  std::string cents = std::to_string(totalCents % 100);
  return std::to_string(totalCents / 100) + "." + (cents.size() == 1 ? "0" : "") + cents;
}

StatusOr<int64_t> parseAmountCents(std::string_view text) {
  bool negative = false;
  if (!text.empty() && text.front() == '-') {
    negative = true;
    text.remove_prefix(1);
  }
  const std::size_t dot = text.find('.');
  std::string_view whole = text.substr(0, dot);
  std::string_view fraction = dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  if (!allDigits(whole) || (dot != std::string_view::npos && !allDigits(fraction))) {
    return Status::invalidArgument("\"total_amount\" must be a decimal number such as 180 or 180.50");
  }
  if (fraction.size() > 2) {
    return Status::invalidArgument("\"total_amount\" has more than 2 decimals");
  }
  whole = withoutLeadingZeros(whole);
  // numeric(12,2) holds at most 10 digits before the point.
  if (whole.size() > 10) {
    return Status::invalidArgument("\"total_amount\" is too large (at most 9999999999.99)");
  }
  int64_t value = std::stoll(std::string(whole)) * 100;
  if (fraction.size() == 1) {
    value += (fraction[0] - '0') * 10;
  } else if (fraction.size() == 2) {
    value += (fraction[0] - '0') * 10 + (fraction[1] - '0');
  }
  if (negative && value != 0) {
    return Status::invalidArgument("\"total_amount\" must not be negative");
  }
  return value;
}

StatusOr<OrderMessage> parseOrderMessage(std::string_view body) {
  OrderFieldsReader reader;
  bool parsed = false;
  try {
    parsed = nlohmann::json::sax_parse(body, &reader);
  } catch (const std::exception& e) {
    reader.error = std::string("the body is not valid JSON: ") + e.what();
  }
  if (!parsed) {
    return Status::invalidArgument(reader.error.empty() ? "the body is not valid JSON" : reader.error);
  }
  if (!reader.topLevelObject) {
    return Status::invalidArgument("the body must be a JSON object");
  }
  // The first problem, in the fields' order.
  for (const Status& scalar :
       {requireScalar(reader.userId, "user_id"), requireScalar(reader.numberOfItems, "number_of_items"),
        requireScalar(reader.totalAmount, "total_amount")}) {
    if (!scalar.ok()) {
      return scalar;
    }
  }

  OrderMessage order;
  order.userId = reader.userId.text;
  if (order.userId.empty()) {
    return Status::invalidArgument("\"user_id\" must not be empty");
  }
  if (order.userId.find('\0') != std::string::npos) {
    // PostgreSQL text cannot hold NUL: libpq would store the id cut short at it.
    return Status::invalidArgument("\"user_id\" must not contain NUL characters");
  }
  if (order.userId.size() > kMaxUserIdBytes) {
    return Status::invalidArgument("\"user_id\" is longer than " + std::to_string(kMaxUserIdBytes) +
                                   " bytes");
  }

  std::string_view items = reader.numberOfItems.text;
  if (!allDigits(items)) {
    return Status::invalidArgument("\"number_of_items\" must be a positive integer");
  }
  items = withoutLeadingZeros(items);
  if (items.size() > 10 || std::stoll(std::string(items)) > std::numeric_limits<int32_t>::max()) {
    return Status::invalidArgument("\"number_of_items\" is too large");
  }
  order.numberOfItems = static_cast<int32_t>(std::stoll(std::string(items)));
  if (order.numberOfItems <= 0) {
    return Status::invalidArgument("\"number_of_items\" must be greater than 0");
  }

  StatusOr<int64_t> cents = parseAmountCents(reader.totalAmount.text);
  if (!cents.ok()) {
    return cents.status();
  }
  order.totalCents = *cents;
  return order;
}

}  // namespace mp
