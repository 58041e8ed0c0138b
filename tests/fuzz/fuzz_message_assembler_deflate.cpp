// SPDX-License-Identifier: BSL-1.0
// libFuzzer target: wsx::protocol::message_assembler with the zlib inflater set
// (permessage-deflate negotiated, RSV1 allowed on the first frame of a data message).
// The driver and the input layout are those of fuzz_message_assembler.cpp; in addition,
// bit 7 of the first byte selects no context takeover, and the check that the bytes the
// assembler buffers never exceed max_message_size by more than one inflate step applies.
#define WSX_FUZZ_DEFLATE 1
#include "fuzz_message_assembler.cpp"
