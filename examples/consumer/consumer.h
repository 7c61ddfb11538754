// What the consumer's translation units offer each other.
#ifndef SOFTKERN_CONSUMER_CONSUMER_H_
#define SOFTKERN_CONSUMER_CONSUMER_H_

#include <cstddef>

namespace consumer {

// rows.cpp: batched softmax over strided rows; returns the number of failed checks.
int CheckRows();

// hwy_sum.cpp: this program's own Highway kernel, dispatched by Highway.
double HwySum(const float* x, std::size_t n);
// The Highway target HwySum runs on, e.g. "AVX3".
const char* HwySumTarget();

}  // namespace consumer

#endif  // SOFTKERN_CONSUMER_CONSUMER_H_
