// softkern/status.hpp — the error type every public function returns.
//
// softkern never throws (it must build with -fno-exceptions) and never writes
// anything when it rejects a call: arguments are validated first, then the
// kernel runs. A rejected call returns a Status whose message says what was
// wrong, in words a caller can log as they are.
#ifndef SOFTKERN_STATUS_HPP_
#define SOFTKERN_STATUS_HPP_

namespace softkern {

enum class StatusCode : int {
  kOk = 0,
  kNullPointer,      // a null buffer with a non-zero length
  kOverlap,          // input and output overlap without being the same buffer
  kBadStride,        // a row stride smaller than the row, or a size that overflows
  kBadTemperature,   // temperature <= 0, NaN or infinite
  kBadArgument,      // any other argument out of its domain
  kUnsupportedIsa,   // the requested instruction set is not compiled in or not on this CPU
};

class [[nodiscard]] Status {
 public:
  constexpr Status() = default;
  constexpr Status(StatusCode code, const char* message) : code_(code), message_(message) {}

  static constexpr Status Ok() { return Status(); }

  constexpr bool ok() const { return code_ == StatusCode::kOk; }
  constexpr StatusCode code() const { return code_; }
  // A static string; never null. "ok" for a successful call.
  constexpr const char* message() const { return message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  const char* message_ = "ok";
};

}  // namespace softkern

#endif  // SOFTKERN_STATUS_HPP_
