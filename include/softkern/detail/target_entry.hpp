// softkern/detail/target_entry.hpp — one entry of targets.hpp as an element
// of the dispatcher's table list (dispatcher.hpp, kCompiledTables): a pointer
// to the target's KernelTable, which kernels-inl.hpp defined in the target's
// namespace.
//
// Included by dispatcher.hpp through targets.hpp, once per entry, inside the
// braces of an array initialiser; no include guard.

&::softkern::detail::SOFTKERN_TARGET_NAMESPACE_OF(SOFTKERN_TARGET_ENTRY)::kKernelTable,

#undef SOFTKERN_TARGET_ENTRY
