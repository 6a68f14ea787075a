// Tensor parallelism on one machine: N rank models (LlamaModel with a communicator, each
// with its own backend, its shards of every layer and its own KV pool holding only its KV
// heads) behind the one Model the engine drives. The engine's scheduler, block tables and
// StepPlan are shared: block id b means "the part of block b on every rank".
//
// forward(plan, logits): rank 0 runs on the calling (engine) thread, ranks 1..N-1 on
// persistent threads started here; every rank runs the whole step (the ranks meet in the
// all-reduces after wo and w2) and writes its own vocab columns of `logits`; forward
// returns when all ranks are done. A rank that throws aborts the communicator so the
// others leave their collectives; forward rethrows the first error.
//
// Devices: rank r's backend is device r of the kind opt.device (cpu: the host), unless the test
// seams opt.make_rank_backend(r) / opt.make_backend are set; its communicator is the kind's
// communicators(0..N-1)[r] (cpu: a CpuCommGroup; cuda: NCCL), unless opt.make_comms. Rank r's model
// is built (weights uploaded) on the calling thread and runs on rank r's thread: a device
// backend must select its device on every entry (the CUDA backend does).
// Threads: each rank's CPU backend gets max(1, threads / N) threads (threads 0: all cores).
// kv_layout() is rank 0's with kv_head_num summed over ranks (block_bytes() = a block's bytes
// on all ranks together); kv_block() throws, since no one address holds a whole block;
// set_observer() refuses a non-null observer (ranks see only their heads' activations).
// Device sampling is not offered (enable_device_sampling is false): the logits are split by
// vocab over the ranks, so the engine samples on the host.
#pragma once

#include <memory>
#include <vector>

#include "model/llama.h"

namespace lmd {

// ranks[r]: rank r's weights (load_model_shards / convert::split_model), all with
// config.tensor_para_size == ranks.size() >= 2. `opt.comm` must be null (the model makes its
// own); opt.make_rank_backend / make_backend, when set, is called once per
// rank. The weights may be freed after.
std::unique_ptr<LlamaModel> create_tp_model(const std::vector<ModelWeights>& ranks, const ModelRuntimeOptions& opt);

// One rank: create_llama_model; several: create_tp_model.
std::unique_ptr<LlamaModel> create_model_for_ranks(const std::vector<ModelWeights>& ranks,
                                                   const ModelRuntimeOptions& opt);
// The same, taking the weights over (one rank: create_llama_model(ModelWeights&&)).
std::unique_ptr<LlamaModel> create_model_for_ranks(std::vector<ModelWeights>&& ranks, const ModelRuntimeOptions& opt);

}  // namespace lmd
