/* nn/mha.h — multi-head self-attention as a part of a layer: the attention layer
 * (nn/attention.c) is one, the transformer block (nn/transformer.c) holds one. Its
 * parameters are nn.MultiheadAttention's — in_proj_weight [3E, E], in_proj_bias [3E],
 * out_proj.weight [E, E], out_proj.bias [E] in PyTorch's layout — kept here transposed
 * ([E, 3E] and [E, E]) so that the projections are x W, one GEMM each (the layer marks them
 * torch_transposed, and model files store PyTorch's layout).
 *
 *     [q k v] = x W_in + b_in                 one GEMM for the three projections
 *     o_h = softmax(q_h k_hᵀ / √d + mask) v_h for each head h (features h·d .. (h+1)·d)
 *     y = [o_1 ... o_H] W_out + b_out
 *
 * In an incremental decoding step the keys and values of the new positions are appended to
 * the call's cache ([B, H, max_len, d] each) and the new queries attend to every position
 * so far, so a token costs O(T), not O(T²). */
#ifndef NBI_NN_MHA_H
#define NBI_NN_MHA_H

#include "nn/nn.h"

typedef struct nbi_mha {
    int64_t E, heads;
    int causal;
    float dropout; /* on the attention weights, in training */
    int bias;
    nb_tensor *w_in, *b_in, *w_out, *b_out; /* [E, 3E], [3E], [E, E], [E]; biases NULL without */
} nbi_mha;

/* Checks the settings (heads divide E, dropout in [0, 1)); `who` names the layer. */
nb_status nbi_mha_check(const nbi_mha *a, const char *who);
/* Declares the parameters as "<prefix>in_proj_weight", "<prefix>in_proj_bias",
 * "<prefix>out_proj.weight", "<prefix>out_proj.bias" (without the biases when !bias). */
nb_status nbi_mha_build(nbi_mha *a, const nbi_build *b, const char *prefix);
/* nn.MultiheadAttention's initialisation: in_proj_weight Xavier-uniform, out_proj.weight
 * U(±1/√E) (nn.Linear's), biases 0. */
nb_status nbi_mha_init(nbi_mha *a, nb_rng *rng);
/* x [B, T, E] (key_mask [B, T] or NULL: i32 nonzero = ignore the key, f32 added to the
 * scores) → [B, T, E]; NULL on error (in the context). */
nb_tensor *nbi_mha_forward(const nbi_mha *a, const nbi_layer *l, const nbi_fwd *f, nb_tensor *x,
                           nb_tensor *key_mask);
/* The cache of a decoding call: keys and values, 2·B·max_len·E floats; -1 (error set) when
 * the attention is not causal. */
int64_t nbi_mha_decode_floats(const nbi_mha *a, const nbi_layer *l, int64_t B, int64_t max_len);

/* The settings and tensors into a layer's view (the attention layer's, the block's). */
void nbi_mha_view(const nbi_mha *a, nbi_layer_view *v);

/* The per-sample shape of a key mask input: [T] of i32 or f32, T matching x's. */
nb_status nbi_mha_check_mask(const nbi_layer *l, const nbi_shape *x, const nbi_shape *mask);

#endif
