// bench/progress_reporter.cpp — the progress line (see progress_reporter.hpp).
#include "progress_reporter.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ostream>
#include <string>

#include "plan.hpp"

namespace softkern_bench {
namespace {

std::string Elapsed(std::chrono::steady_clock::duration d) {
  const long s = static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(d).count());
  char text[32];
  if (s >= 3600) {
    std::snprintf(text, sizeof text, "%ldh%02ldm", s / 3600, s / 60 % 60);
  } else {
    std::snprintf(text, sizeof text, "%ldm%02lds", s / 60, s % 60);
  }
  return text;
}

std::size_t TerminalColumns() {
  winsize w{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col > 20) return w.ws_col;
  return 100;
}

}  // namespace

ProgressReporter::ProgressReporter(bool raw)
    : raw_(raw ? benchmark::CreateDefaultDisplayReporter() : nullptr), terminal_(isatty(STDOUT_FILENO) != 0) {}

bool ProgressReporter::ReportContext(const Context& context) {
  start_ = std::chrono::steady_clock::now();
  planned_ = Planned(benchmark::GetBenchmarkFilter());
  if (raw_) return raw_->ReportContext(context);
  GetOutputStream() << "running " << planned_.size() << " benchmarks"
                    << (terminal_ ? "" : ", one line per part") << " (--softkern_raw prints every result)\n";
  Advance();
  Show(true);
  return true;
}

void ProgressReporter::ReportRuns(const std::vector<Run>& runs) {
  if (raw_) raw_->ReportRuns(runs);
  if (runs.empty()) return;
  const std::string name = runs.front().run_name.str();
  const bool first_report = done_.insert(name).second;
  for (const Run& run : runs) {
    const bool median = run.run_type == Run::RT_Aggregate && run.aggregate_name == "median";
    const bool single = run.run_type == Run::RT_Iteration && run.repetitions <= 1;
    if ((median || single) && !run.error_occurred) results_.push_back(run);
  }
  if (first_report && runs.front().error_occurred) {
    ++errors_;
    if (!raw_) {
      ClearLine();
      GetOutputStream() << "  skipped " << name << ": " << runs.front().error_message << "\n";
    }
  }
  if (raw_ || !first_report) return;
  Advance();
  Show(false);
}

void ProgressReporter::Finalize() {
  if (raw_) {
    raw_->Finalize();
    return;
  }
  ClearLine();
  GetOutputStream() << "done: " << done_.size() << " benchmarks in "
                    << Elapsed(std::chrono::steady_clock::now() - start_)
                    << (errors_ ? ", " + std::to_string(errors_) + " skipped (see above)" : std::string()) << "\n";
  GetOutputStream().flush();
}

void ProgressReporter::Advance() {
  while (next_ < planned_.size() && done_.count(planned_[next_]) != 0) ++next_;
}

// Prints the part that runs now (the next planned benchmark's) and the count
// so far: rewritten in place on a terminal; elsewhere a new line when the
// part changes, and at least once a minute within a long part (the DRAM
// sizes take minutes) so that a log shows the run is alive.
void ProgressReporter::Show(bool force) {
  const std::size_t total = std::max(planned_.size(), done_.size());
  if (next_ >= planned_.size()) return;  // Finalize says when the run is done
  const std::string& running = planned_[next_];
  const std::string part = PartOf(running);
  const bool part_changed = part != part_;
  part_ = part;
  const auto now = std::chrono::steady_clock::now();
  if (!terminal_ && !part_changed && !force && now - last_line_ < std::chrono::minutes(1)) return;
  last_line_ = now;
  char count[64];
  std::snprintf(count, sizeof count, "%zu/%zu (%d%%)", done_.size(), total,
                total ? static_cast<int>(100 * done_.size() / total) : 100);
  std::string line = "[" + part + "] " + count + " " + Elapsed(now - start_);
  std::ostream& out = GetOutputStream();
  if (terminal_) {
    const std::size_t suffix = running.rfind("/real_time");
    line += "  " + (suffix == std::string::npos ? running : running.substr(0, suffix));
    const std::size_t width = TerminalColumns() - 1;
    if (line.size() > width) line.resize(width);
    out << "\r\033[K" << line;
  } else {
    out << line << "\n";
  }
  out.flush();
}

void ProgressReporter::ClearLine() {
  if (terminal_ && !raw_) GetOutputStream() << "\r\033[K";
}

}  // namespace softkern_bench
