/* tests/test_spec.c — the spec format: parsing every kind of line, defaults, the canonical
 * text and its round trip (text → model → text, and identical weights from both), error
 * messages with file:line:column, relative data paths, and allocation failures. */
#define _POSIX_C_SOURCE 200809L
#include "nbtest.h"
#include "base/base.h"

#include <stdatomic.h>
#include <unistd.h>

static nb_spec *parse(const char *text) {
    nb_spec *s = NULL;
    nb_status st = nb_spec_parse(text, strlen(text), "t.spec", "/data", &s);
    CHECK_MSG(st == NB_OK, "parse failed: %s", nb_last_error());
    return s;
}

static const char full[] =
    "nabla-spec 1\n"
    "# a comment line\n"
    "\n"
    "input 784   # trailing comment\n"
    "dense 256 relu init=he_normal\n"
    "dense 128 relu\n"
    "dense 10 name=logits\n"
    "loss cross_entropy\n"
    "optimizer adam lr=2e-3 weight_decay=0.01 amsgrad=true\n"
    "schedule cosine t_max=1000 eta_min=1e-5 warmup=100 warmup_start_factor=0.1\n"
    "batch 64\n"
    "epochs 10\n"
    "seed 7\n"
    "data train=train-images.gz train-labels=/abs/train-labels.gz val-split=0.1\n"
    "data test=\"dir with space/t10k.gz\" normalize=scale:255 format=idx\n";

static void test_parse_full(void) {
    nb_spec *s = parse(full);
    if (!s) return;
    CHECK(s->has_input && s->in_rank == 1 && s->in_shape[0] == 784);
    CHECK(s->n_layers == 3);
    CHECK(s->has_loss && !strcmp(s->loss, "cross_entropy"));
    CHECK(s->has_optim && s->optim.kind == NB_OPTIM_ADAM);
    CHECK(s->optim.u.adam.lr == 2e-3 && s->optim.u.adam.weight_decay == 0.01);
    CHECK(s->optim.u.adam.amsgrad == 1 && s->optim.u.adam.beta1 == 0.9);
    CHECK(s->has_schedule && s->schedule.kind == NB_SCHED_COSINE);
    CHECK(s->schedule.t_max == 1000 && s->schedule.eta_min == 1e-5);
    CHECK(s->schedule.warmup_steps == 100 && s->schedule.warmup_start_factor == 0.1);
    CHECK(s->schedule.base_lr == 2e-3);
    CHECK(s->batch == 64 && s->epochs == 10 && s->seed == 7);
    CHECK(s->data.train && !strcmp(s->data.train, "/data/train-images.gz"));
    CHECK(s->data.train_labels && !strcmp(s->data.train_labels, "/abs/train-labels.gz"));
    CHECK(s->data.test && !strcmp(s->data.test, "/data/dir with space/t10k.gz"));
    CHECK(!s->data.val && !s->data.test_labels && !s->data.label);
    CHECK(s->data.has_val_split && s->data.val_split == 0.1);
    CHECK(s->data.has_norm && s->data.norm == NB_NORM_CONST);
    CHECK(s->data.norm_shift == 0.0f && s->data.norm_div == 255.0f);
    CHECK(!strcmp(s->data.format, "idx"));

    nb_model *m = NULL;
    CHECK_OK(nb_spec_build(s, &m));
    if (m) {
        CHECK(nb_model_layer_count(m) == 3);
        CHECK(nb_model_param_count(m) == 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
        CHECK(!strcmp(nb_model_layer_name(m, 0), "dense_1"));
        CHECK(!strcmp(nb_model_layer_name(m, 2), "logits"));
        int64_t out[NB_MAX_RANK];
        CHECK(nb_model_output_shape(m, out) == 1 && out[0] == 10);
    }
    nb_optim *o = m ? nb_spec_optim(s, nb_model_params(m)) : NULL;
    CHECK_PTR(o);
    if (o) {
        /* warmup: the first step runs at 0.1 of the base rate */
        CHECK_CLOSE(nb_optim_lr(o), 2e-4, 1e-12, 1e-9);
        CHECK(!strcmp(nb_optim_name(o), "adam"));
    }
    nb_optim_free(o);
    nb_model_free(m);
    nb_spec_free(s);
}

static void test_defaults(void) {
    nb_spec *s = parse("nabla-spec 1\ninput 4\ndense 2\n");
    if (!s) return;
    CHECK(!s->has_loss && !s->has_optim && !s->has_schedule && !s->has_batch);
    CHECK(!s->has_epochs && !s->has_seed && !s->data.has_norm && !s->data.train);
    CHECK(s->optim.kind == NB_OPTIM_ADAM && s->optim.u.adam.lr == 1e-3);
    CHECK(s->batch == 32 && s->epochs == 1 && s->seed == 0);
    /* nothing set: the training text is empty */
    CHECK(nb_spec_training_text(s, NULL, 0) == 0 && nb_last_error()[0] == 0);
    nb_spec_free(s);
    /* a spec without a model is fine to parse, but builds nothing */
    s = parse("nabla-spec 1\nbatch 8\n");
    nb_model *m = NULL;
    if (s) CHECK(nb_spec_build(s, &m) == NB_ERR_FORMAT && !m);
    CHECK(strstr(nb_last_error(), "no 'input' line") != NULL);
    nb_spec_free(s);
}

/* Canonical text: architecture from the model, training lines from the spec. */
static char *canonical(const nb_spec *s, nb_model *m) {
    size_t a = nb_model_spec(m, NULL, 0), b = nb_spec_training_text(s, NULL, 0);
    char *t = malloc(a + b + 1);
    nb_model_spec(m, t, a + 1);
    nb_spec_training_text(s, t + a, b + 1);
    return t;
}

/* text → model → canonical text → model: the same text, the same weights. */
static void round_trip(const char *text) {
    nb_spec *s1 = parse(text);
    if (!s1) return;
    nb_model *m1 = NULL, *m2 = NULL;
    CHECK_OK(nb_spec_build(s1, &m1));
    char *c1 = canonical(s1, m1);
    nb_spec *s2 = parse(c1);
    if (s2) CHECK_OK(nb_spec_build(s2, &m2));
    if (m2) {
        char *c2 = canonical(s2, m2);
        CHECK_MSG(!strcmp(c1, c2), "canonical text is not a fixpoint:\n%s---\n%s", c1, c2);
        free(c2);
        nb_params *p1 = nb_model_params(m1), *p2 = nb_model_params(m2);
        CHECK(nb_params_numel(p1) == nb_params_numel(p2));
        CHECK(nb_params_len(p1) == nb_params_len(p2));
        for (int i = 0; i < nb_params_len(p1) && i < nb_params_len(p2); i++)
            CHECK(!strcmp(nb_params_at(p1, i)->name ? nb_params_at(p1, i)->name : "",
                          nb_params_at(p2, i)->name ? nb_params_at(p2, i)->name : ""));
        if (nb_params_numel(p1) == nb_params_numel(p2))
            CHECK(!memcmp(nb_params_data(p1), nb_params_data(p2),
                          sizeof(float) * (size_t)nb_params_numel(p1)));
    }
    free(c1);
    nb_model_free(m1);
    nb_model_free(m2);
    nb_spec_free(s1);
    nb_spec_free(s2);
}

static void test_round_trip_every_kind(void) {
    round_trip(full);
    /* every layer kind with every option, every initialiser, every activation */
    round_trip("nabla-spec 1\ninput 3 5\n"
               "dense 4 leaky_relu alpha=0.2 init=uniform:-0.1:0.3 bias_init=constant:0.5\n"
               "dense 4 elu alpha=1.5 bias=false init=normal:0.1:0.02\n"
               "dense 6 tanh init=xavier_normal:2 bias_init=uniform:-1:1\n"
               "dense 6 sigmoid init=kaiming_uniform bias_init=zeros name=mid\n"
               "dense 6 gelu init=kaiming_normal:1.5\n"
               "dense 5 silu init=glorot_uniform:0.5\n"
               "dense 5 softplus\n"
               "activation leaky_relu alpha=0.1\n"
               "activation elu\n"
               "activation none\n"
               "dense 3 softmax name=dense_12\n"
               "dense 2 relu\n"
               "activation softmax\n");
    /* the convolutional layers, with every option */
    round_trip("nabla-spec 1\ninput 3 16 12\n"
               "conv2d 8 3 relu pad=1 init=kaiming_normal bias_init=constant:0.1\n"
               "maxpool2d 2\n"
               "conv2d 8 3,1 leaky_relu alpha=0.2 stride=1,2 pad=1,0 dilation=2,1 groups=4\n"
               "batchnorm momentum=0.2 eps=0.001\n"
               "avgpool2d 3 stride=1 pad=1 exclude_pad=true name=smooth\n"
               "conv2d 6 3 same=true bias=false name=c3\n"
               "batchnorm affine=false\n"
               "maxpool2d 3,2 stride=1 pad=1,0 dilation=1,2\n"
               "conv2d 4 1 pad=0,1,1,0\n"
               "global_avgpool2d name=gap\n"
               "dropout 0.25 name=drop\n"
               "dense 5 tanh\n"
               "activation softmax\n");
    round_trip("nabla-spec 1\ninput 1 8 8\nconv2d 2 3 tanh\nflatten name=flat\ndropout 0.5\n"
               "batchnorm\ndense 3\n");
    /* a layer named like another kind's default name: defaults skip it */
    round_trip("nabla-spec 1\ninput 1 8 8\nflatten name=dropout_1\ndropout 0.1\ndropout 0.2\n"
               "dense 2\n");
    /* version 2: graphs — several inputs, in=, merges, split outputs, reuse, outputs */
    round_trip("nabla-spec 2\ninput 3 8 8 name=img\ninput 5 name=meta\n"
               "conv2d 4 3 relu pad=1 in=img\nbatchnorm\nconv2d 4 3 pad=1 bias=false\n"
               "add in=conv2d_2,conv2d_1\nglobal_avgpool2d\nconcat in=global_avgpool2d_1,meta\n"
               "dense 6 name=pre\ndense 6 tanh name=shared\nreuse shared\n"
               "reuse shared in=shared name=again\nsplit 2,4 axis=0\ndense 3 in=split_1:1\n"
               "dropout 0.5 in=split_1 name=drop\noutput dense_3 drop again\n");
    round_trip("nabla-spec 2\ninput None 16 name=seq\ndense 8 relu\ndense 16\nadd in=seq,dense_2\n"
               "activation relu\n");
    round_trip("nabla-spec 2\ninput 4 dtype=i32 name=ids\ninput 3\ninput 2 name=input\n");
    /* the sequence layers, with every option: token ids, states, lengths and masks */
    round_trip("nabla-spec 2\ninput None dtype=i32 name=tokens\ninput scalar dtype=i32 name=len\n"
               "input 4 12 name=h0\ninput None name=mask\ninput None dtype=i32 name=pad\n"
               "embedding 50 12 padding_idx=3 init=normal:0:0.02 in=tokens\n"
               "positional 64 init=uniform:-0.1:0.1\nsinusoidal\n"
               "layernorm eps=0.001 affine=false\nrmsnorm eps=1e-05\nrmsnorm affine=false\n"
               "lstm 12 layers=2 bidirectional=true dropout=0.25 bias=false in=rmsnorm_2,h0,-,len\n"
               "gru 6 layers=2 in=lstm_1,-,mask\nrnn 5 relu bidirectional=true\nrnn 12\n"
               "attention 12 heads=3 causal=true dropout=0.1 bias=false in=rnn_2,pad\n"
               "attention 12 in=attention_1,mask\n"
               "transformer 12 heads=2 ffn=20 causal=true dropout=0.2 eps=0.0001 bias=false "
               "in=attention_2,pad\n"
               "transformer 12 heads=4\ntied_dense embedding_1 bias=true\n"
               "tied_dense embedding_1 in=transformer_2 name=head\ndense 7 in=transformer_2\n"
               "output tied_dense_1 head dense_1 lstm_1:1 lstm_1:2 gru_1:1\n");
    /* the norms, positions, attention and blocks as a chain: version 1 */
    round_trip("nabla-spec 1\ninput 10 8\npositional 10\nsinusoidal\nlayernorm\nrmsnorm\n"
               "attention 8 heads=2 causal=true\ntransformer 8 heads=4 ffn=16\ndense 3\n");
    /* a version-2 text that is a chain is written back as version 1 */
    nb_spec *s2 = parse("nabla-spec 2\ninput 4\ndense 3 in=input\nactivation relu\n");
    nb_model *m2 = NULL;
    if (s2) CHECK_OK(nb_spec_build(s2, &m2));
    if (m2) {
        char buf[128];
        nb_model_spec(m2, buf, sizeof buf);
        CHECK_MSG(!strcmp(buf, "nabla-spec 1\ninput 4\ndense 3\nactivation relu\n"), "%s", buf);
        CHECK(nb_model_is_sequential(m2));
    }
    nb_model_free(m2);
    nb_spec_free(s2);
    /* every optimizer, every schedule, every data key and normalisation */
    round_trip("nabla-spec 1\ninput 2\ndense 1\nloss mse\n"
               "optimizer sgd lr=0.1 momentum=0.9 nesterov=true weight_decay=1e-4\n"
               "schedule multistep milestones=10,20,30 gamma=0.5\n"
               "data train=a.csv label=species format=csv normalize=standard:per_feature\n"
               "data val=v.csv\n");
    round_trip("nabla-spec 1\ninput 2\ndense 1\nloss bce_with_logits\n"
               "optimizer rmsprop lr=0.01 alpha=0.9 momentum=0.5 centered=true eps=1e-6\n"
               "schedule step step_size=5 gamma=0.3 warmup=3\n"
               "data train=x.npy train_labels=y.npy test=tx.npy test_labels=ty.npy "
               "normalize=const:0.5:2\n");
    round_trip("nabla-spec 1\ninput 2\ndense 1\ndata train=clips.csv format=audio store=f16\n");
    round_trip("nabla-spec 1\ninput 2\ndense 1\nloss l1\n"
               "optimizer adagrad lr=0.05 lr_decay=0.01 initial_accumulator_value=0.1\n"
               "schedule linear start_factor=0.5 end_factor=1 total_iters=7\n"
               "data normalize=minmax\n");
    round_trip("nabla-spec 1\ninput 2\ndense 1\nloss nll\noptimizer adamw lr=3e-4\n"
               "schedule exponential gamma=0.99\ndata normalize=none\n");
    round_trip("nabla-spec 1\ninput 2\ndense 1\nloss bce\noptimizer sgd lr=1\n"
               "schedule constant\n");
    /* gradient clipping; weight decay on the matrices only */
    round_trip("nabla-spec 1\ninput 2\ndense 1\nloss mse\n"
               "optimizer adamw lr=0.001 beta2=0.95 weight_decay=0.1 decay=matrices\n"
               "clip norm=1\nbatch 32\n");
    round_trip("nabla-spec 1\ninput 2\ndense 1\nclip norm=0.5 value=0.1\n");
    round_trip("nabla-spec 1\ninput 2\ndense 1\nclip value=2\n");
    nb_spec *bad = NULL;
    CHECK(nb_spec_parse("nabla-spec 1\nclip\n", 17, "c.spec", NULL, &bad) == NB_ERR_FORMAT);
    CHECK_MSG(strstr(nb_last_error(), "c.spec:2:1: 'clip' needs norm=N"), "%s", nb_last_error());
    CHECK(nb_spec_parse("nabla-spec 1\nclip norm=-1\n", 25, "c.spec", NULL, &bad) == NB_ERR_FORMAT);
    CHECK(nb_spec_parse("nabla-spec 1\nclip norm=1\nclip norm=2\n", 36, "c.spec", NULL, &bad) ==
          NB_ERR_FORMAT);
    CHECK_MSG(strstr(nb_last_error(), "a second 'clip' line"), "%s", nb_last_error());
}

/* The canonical text of a spec with non-default names: names survive the round trip. */
static void test_names(void) {
    nb_spec *s = parse("nabla-spec 1\ninput 2\ndense 3 name=dense_2\ndense 3\ndense 1\n");
    nb_model *m = NULL;
    if (s) CHECK_OK(nb_spec_build(s, &m));
    if (m) {
        CHECK(!strcmp(nb_model_layer_name(m, 0), "dense_2"));
        CHECK(!strcmp(nb_model_layer_name(m, 1), "dense_3"));
        CHECK(!strcmp(nb_model_layer_name(m, 2), "dense_4"));
        char buf[256];
        nb_model_spec(m, buf, sizeof buf);
        CHECK_MSG(!strcmp(buf, "nabla-spec 1\ninput 2\ndense 3 name=dense_2\ndense 3 "
                               "name=dense_3\ndense 1 name=dense_4\n"),
                  "got:\n%s", buf);
        /* snprintf-like truncation */
        size_t need = nb_model_spec(m, buf, 10);
        CHECK(need == strlen("nabla-spec 1\ninput 2\ndense 3 name=dense_2\ndense 3 "
                             "name=dense_3\ndense 1 name=dense_4\n"));
        CHECK(strlen(buf) == 9 && !strncmp(buf, "nabla-spe", 9));
    }
    nb_model_free(m);
    nb_spec_free(s);
}

/* A model built in C has the same canonical text as its spec. */
static void test_model_spec_from_c(void) {
    nb_model *m = nb_model_new(1, (int64_t[]){4}, 1);
    nb_model_dense(m, 8, NB_ACT_RELU);
    nb_dense_opts o = {.activation = NB_ACT_LEAKY_RELU,
                       .alpha = 0.25f,
                       .no_bias = 1,
                       .weight_init = {.kind = NB_INIT_UNIFORM, .a = -0.5f, .b = 0.5f}};
    nb_model_dense_with(m, 3, &o);
    nb_model_activation(m, NB_ACT_SOFTMAX, 0);
    char buf[512];
    nb_model_spec(m, buf, sizeof buf);
    CHECK_MSG(!strcmp(buf, "nabla-spec 1\ninput 4\ndense 8 relu\ndense 3 leaky_relu alpha=0.25 "
                           "bias=false init=uniform:-0.5:0.5\nactivation softmax\n"),
              "got:\n%s", buf);
    nb_model_free(m);
}

typedef struct bad_case {
    const char *text;
    nb_status status;
    const char *msg; /* a substring of the message */
} bad_case;

static void test_errors(void) {
    static const bad_case cases[] = {
        {"", NB_ERR_FORMAT, "t.spec: empty spec"},
        {"# only a comment\n", NB_ERR_FORMAT, "first line must be 'nabla-spec 1'"},
        {"nabla-spec\n", NB_ERR_FORMAT,
         "t.spec:1:11: expected a positive integer for the format version"},
        {"nabla-spec 3\n", NB_ERR_UNSUPPORTED,
         "t.spec:1:12: spec format version 3 is not supported"},
        {"input 3\n", NB_ERR_FORMAT,
         "t.spec:1:1: expected 'nabla-spec 1' as the first line, got 'input'"},
        {"nabla-spec 1\nnabla-spec 1\n", NB_ERR_FORMAT, "t.spec:2:1: a second 'nabla-spec' line"},
        {"nabla-spec 1\ninput 784\ndense abc relu\n", NB_ERR_FORMAT,
         "t.spec:3:7: expected a positive integer for the number of units, got 'abc'"},
        {"nabla-spec 1\ninput 784\ndense 0\n", NB_ERR_FORMAT,
         "t.spec:3:7: expected a positive integer for the number of units, got '0'"},
        {"nabla-spec 1\ninput 784\ndense\n", NB_ERR_FORMAT,
         "t.spec:3:6: expected a positive integer for the number of units after 'dense'"},
        {"nabla-spec 1\ninput 4\n  dense 3 rleu\n", NB_ERR_FORMAT,
         "t.spec:3:11: unknown activation 'rleu'"},
        {"nabla-spec 1\ninput 4\ndense 3 relu extra\n", NB_ERR_FORMAT,
         "t.spec:3:14: unexpected 'extra': 'dense' takes at most 2 positional arguments"},
        {"nabla-spec 1\ninput 4\ndense 3 unit=4\n", NB_ERR_FORMAT,
         "t.spec:3:9: unknown option 'unit' for 'dense' (expected one of: alpha, bias, init, "
         "bias_init, name)"},
        {"nabla-spec 1\ninput 4\ndense 3 bias=maybe\n", NB_ERR_FORMAT,
         "t.spec:3:14: expected true or false for bias, got 'maybe'"},
        {"nabla-spec 1\ninput 4\ndense 3 init=lecun\n", NB_ERR_FORMAT,
         "t.spec:3:14: unknown initialiser 'lecun'"},
        {"nabla-spec 1\ninput 4\ndense 3 init=uniform:1:1\n", NB_ERR_FORMAT, "needs A < B"},
        {"nabla-spec 1\ninput 4\ndense 3 init=constant:x\n", NB_ERR_FORMAT,
         "t.spec:3:23: expected a number (in the range of a float) in initialiser 'constant:x', "
         "got 'x'"},
        {"nabla-spec 1\ninput 4\ndense 3 alpha=1 alpha=2\n", NB_ERR_FORMAT,
         "t.spec:3:17: option 'alpha' is given twice (first at column 9)"},
        {"nabla-spec 1\ninput 4\ndense 3 name=\"a b\n", NB_ERR_FORMAT,
         "t.spec:3:14: unterminated quote"},
        {"nabla-spec 1\ninput 4\ndense 3 =4\n", NB_ERR_FORMAT,
         "t.spec:3:9: an option needs a name"},
        /* (a dense line first now implies 'input auto', issue 12; a reuse cannot) */
        {"nabla-spec 2\nreuse dense_1\n", NB_ERR_FORMAT,
         "t.spec:2:1: a layer before the input line"},
        {"nabla-spec 1\ninput auto\ndense 3\ninput 4\n", NB_ERR_FORMAT,
         "t.spec:4:1: a second input after 'input auto'"},
        {"nabla-spec 2\ninput 4\ninput auto\n", NB_ERR_FORMAT,
         "t.spec:3:7: 'input auto' is the one input of a model"},
        {"nabla-spec 1\ninput 4\ndense 3\ninput 4\n", NB_ERR_FORMAT,
         "t.spec:4:1: a second 'input' line (the first is line 2)"},
        {"nabla-spec 1\ninput\n", NB_ERR_FORMAT, "t.spec:2:6: expected the shape of one sample"},
        {"nabla-spec 1\ninput 1 -28 28\n", NB_ERR_FORMAT,
         "t.spec:2:9: expected a positive integer for a dimension of the input, got '-28'"},
        {"nabla-spec 1\ninput 1 2 3 4 5 6 7 8\n", NB_ERR_FORMAT,
         "t.spec:2:21: a sample has at most 7 dimensions"},
        {"nabla-spec 1\ninput 4\nconv3d 3\n", NB_ERR_FORMAT,
         "t.spec:3:1: unknown line 'conv3d' (expected a layer — dense, activation, conv2d, "
         "maxpool2d"},
        {"nabla-spec 1\ninput 4\nconv2d 3\n", NB_ERR_FORMAT,
         "t.spec:3:9: expected the kernel size (N, or H,W) after '3'"},
        {"nabla-spec 1\ninput 1 8 8\nconv2d 3 3x3\n", NB_ERR_FORMAT,
         "t.spec:3:10: expected the kernel size as a positive integer or two of them as H,W, got "
         "'3x3'"},
        {"nabla-spec 1\ninput 1 8 8\nconv2d 3 3 pad=1 same=true\n", NB_ERR_FORMAT,
         "t.spec:3:16: pad= and same=true exclude each other"},
        {"nabla-spec 1\ninput 1 8 8\nconv2d 3 3 pad=1,2,3\n", NB_ERR_FORMAT,
         "t.spec:3:16: expected pad=P, pad=H,W or pad=TOP,BOTTOM,LEFT,RIGHT, got 3 numbers"},
        {"nabla-spec 1\ninput 4\nconv2d 3 3\n", NB_ERR_SHAPE,
         "t.spec:3:1: conv2d 'conv2d_1': input (None, 4) must have samples [C, H, W]"},
        {"nabla-spec 1\ninput 1 4 4\nconv2d 3 5\n", NB_ERR_SHAPE, "is larger than its input 4x4"},
        {"nabla-spec 1\ninput 1 4 4\nmaxpool2d 2 exclude_pad=true\n", NB_ERR_FORMAT,
         "t.spec:3:13: unknown option 'exclude_pad' for 'maxpool2d' (expected one of: stride, "
         "pad, dilation, name)"},
        {"nabla-spec 1\ninput 1 4 4\ndropout 1\n", NB_ERR_FORMAT,
         "t.spec:3:9: the dropout probability must be in [0, 1), got '1'"},
        {"nabla-spec 1\ninput 1 4 4\nbatchnorm momentum=0\n", NB_ERR_FORMAT,
         "batchnorm needs momentum in (0, 1]"},
        {"nabla-spec 1\ninput 1 4 4\nflatten x\n", NB_ERR_FORMAT,
         "t.spec:3:9: unexpected 'x': 'flatten' takes 0 positional arguments"},
        {"nabla-spec 1\ninput 1 4 4\nflatten name=a\ndropout 0.5 name=a\n", NB_ERR_ARG,
         "t.spec:4:1: Dropout layer: the model already has a layer named 'a'"},
        {"nabla-spec 1\ninput 4\ndense 3 name=a\ndense 3 name=a\n", NB_ERR_ARG,
         "t.spec:4:1: Dense layer: the model already has a layer named 'a'"},
        {"nabla-spec 1\ninput 4\ndense 3 name=a.b\n", NB_ERR_ARG,
         "t.spec:3:1: Dense layer: name 'a.b'"},
        {"nabla-spec 1\ninput scalar\ndense 3\n", NB_ERR_SHAPE,
         "t.spec:3:1: dense 'dense_1': its input is a scalar"},
        {"nabla-spec 1\nloss hinge\n", NB_ERR_FORMAT, "t.spec:2:6: unknown loss 'hinge'"},
        {"nabla-spec 1\nloss mse\nloss l1\n", NB_ERR_FORMAT,
         "t.spec:3:1: a second 'loss' line (the first is line 2)"},
        {"nabla-spec 1\noptimizer lbfgs\n", NB_ERR_FORMAT,
         "t.spec:2:11: unknown optimizer 'lbfgs'"},
        {"nabla-spec 1\noptimizer adam lr=fast\n", NB_ERR_FORMAT,
         "t.spec:2:19: expected a number for the learning rate, got 'fast'"},
        {"nabla-spec 1\noptimizer adam lr=-1\n", NB_ERR_FORMAT,
         "t.spec:2:19: the learning rate must be >= 0"},
        {"nabla-spec 1\noptimizer adam beta1=1\n", NB_ERR_FORMAT,
         "t.spec:2:11: beta1 must be in [0, 1), got 1"},
        {"nabla-spec 1\noptimizer sgd nesterov=true\n", NB_ERR_FORMAT,
         "t.spec:2:11: Nesterov momentum needs momentum > 0"},
        {"nabla-spec 1\noptimizer sgd momentum=0.9 betas=1\n", NB_ERR_FORMAT,
         "t.spec:2:28: unknown option 'betas' for 'optimizer' (expected one of: momentum, "
         "dampening, weight_decay, nesterov, lr, decay)"},
        {"nabla-spec 1\nschedule cosine\n", NB_ERR_FORMAT,
         "t.spec:2:16: schedule cosine needs t_max="},
        {"nabla-spec 1\nschedule step\n", NB_ERR_FORMAT,
         "t.spec:2:14: schedule step needs step_size="},
        {"nabla-spec 1\nschedule triangle\n", NB_ERR_FORMAT,
         "t.spec:2:10: unknown schedule 'triangle'"},
        {"nabla-spec 1\nschedule multistep milestones=5,x\n", NB_ERR_FORMAT,
         "t.spec:2:33: expected a positive integer for milestones (comma-separated), got 'x'"},
        {"nabla-spec 1\nschedule multistep milestones=5,3\n", NB_ERR_FORMAT,
         "t.spec:2:10: multistep: milestones must increase"},
        {"nabla-spec 1\nschedule step step_size=2 warmup=0\n", NB_ERR_FORMAT,
         "t.spec:2:34: expected a positive integer for warmup (steps), got '0'"},
        {"nabla-spec 1\nbatch 0\n", NB_ERR_FORMAT,
         "t.spec:2:7: expected a positive integer for the batch size, got '0'"},
        {"nabla-spec 1\nepochs ten\n", NB_ERR_FORMAT,
         "t.spec:2:8: expected a positive integer for the number of epochs, got 'ten'"},
        {"nabla-spec 1\nseed -1\n", NB_ERR_FORMAT,
         "t.spec:2:6: expected a non-negative integer for the seed, got '-1'"},
        {"nabla-spec 1\nseed 99999999999999999999999\n", NB_ERR_FORMAT,
         "t.spec:2:6: expected a non-negative integer"},
        {"nabla-spec 1\nbatch 4 8\n", NB_ERR_FORMAT, "t.spec:2:9: unexpected '8'"},
        {"nabla-spec 1\nbatch 4 x=1\n", NB_ERR_FORMAT,
         "t.spec:2:9: 'batch' takes no options, got 'x'"},
        {"nabla-spec 1\ndata normalize=zscore\n", NB_ERR_FORMAT,
         "t.spec:2:16: unknown normalisation 'zscore'"},
        {"nabla-spec 1\ndata normalize=scale:0\n", NB_ERR_FORMAT,
         "t.spec:2:16: expected scale:D with a non-zero number D"},
        {"nabla-spec 1\ndata normalize=const:1\n", NB_ERR_FORMAT,
         "t.spec:2:16: expected const:SHIFT:DIV"},
        {"nabla-spec 1\ndata val_split=1\n", NB_ERR_FORMAT,
         "t.spec:2:16: val_split must be in [0, 1)"},
        {"nabla-spec 1\ndata val_split=-0.5\n", NB_ERR_FORMAT,
         "t.spec:2:16: val_split (a fraction) must be in [0, 1]"},
        {"nabla-spec 1\ndata format=hdf5\n", NB_ERR_FORMAT,
         "t.spec:2:13: unknown data format 'hdf5'"},
        {"nabla-spec 1\ndata store=u8\n", NB_ERR_FORMAT,
         "t.spec:2:12: unknown store 'u8' for audio features (expected auto, f32 or f16)"},
        {"nabla-spec 1\ndata train=a\ndata train=b\n", NB_ERR_FORMAT,
         "t.spec:3:12: 'train' was already given on an earlier data line"},
        {"nabla-spec 1\ndata train=\n", NB_ERR_FORMAT,
         "t.spec:2:12: option 'train' has an empty value"},
        {"nabla-spec 1\ndata trian=a\n", NB_ERR_FORMAT,
         "t.spec:2:6: unknown option 'trian' for 'data'"},
        {"nabla-spec 1\ndata x\n", NB_ERR_FORMAT,
         "t.spec:2:6: unexpected 'x': 'data' takes 0 positional arguments"},
        {"nabla-spec 1\ninput 4\ndense 3 name=\"a\\x\"\n", NB_ERR_FORMAT, "may only escape"},
        /* version 2 features in a version-1 spec */
        {"nabla-spec 1\ninput 4\ndense 3\nadd in=input,dense_1\n", NB_ERR_FORMAT,
         "t.spec:4:1: 'add' needs 'nabla-spec 2' as the first line"},
        {"nabla-spec 1\ninput 4\ndense 3 in=input\n", NB_ERR_FORMAT,
         "t.spec:3:12: in= needs 'nabla-spec 2'"},
        {"nabla-spec 1\ninput 4\ndense 4 name=d\nreuse d\n", NB_ERR_FORMAT,
         "t.spec:4:1: reuse needs 'nabla-spec 2'"},
        {"nabla-spec 1\ninput 4\ninput 3\n", NB_ERR_FORMAT,
         "t.spec:3:1: a second 'input' line (the first is line 2); a graph with several inputs "
         "needs 'nabla-spec 2'"},
        {"nabla-spec 1\ninput None\n", NB_ERR_FORMAT,
         "t.spec:2:7: expected a positive integer for a dimension of the input, got 'None'"},
        /* version 2 errors, at their line and column */
        {"nabla-spec 2\ninput 4\ndense 3 in=nothing\n", NB_ERR_FORMAT,
         "t.spec:3:12: no node named 'nothing' before this line"},
        {"nabla-spec 2\ninput 4\ndense 3 in=input,input\n", NB_ERR_FORMAT,
         "t.spec:3:12: 'dense' takes one node, got 2 in in="},
        {"nabla-spec 2\ninput 4\nadd\n", NB_ERR_FORMAT,
         "t.spec:3:1: 'add' sums 2 or more nodes: give them as in=A,B"},
        {"nabla-spec 2\ninput 4\ndense 3\nadd in=input,dense_1\n", NB_ERR_SHAPE,
         "t.spec:4:1: add 'add_1': input 1 (None, 3) does not match input 0 (None, 4)"},
        {"nabla-spec 2\ninput 4\ndense 3 name=d\nreuse d\n", NB_ERR_SHAPE,
         "t.spec:4:1: dense 'd' was built for 4 input features"},
        {"nabla-spec 2\ninput 4\nreuse d\n", NB_ERR_ARG,
         "t.spec:3:1: nb_model_reuse: the model has no layer named 'd'"},
        {"nabla-spec 2\ninput 6\nsplit 2,3\n", NB_ERR_SHAPE,
         "t.spec:3:1: split 'split_1': sizes adding up to 5 cannot cut axis -1"},
        {"nabla-spec 2\ninput 6\nsplit 2,x\n", NB_ERR_FORMAT,
         "t.spec:3:9: expected a positive integer for the sizes of the parts"},
        {"nabla-spec 2\ninput 6\ndense 2\noutput dense_1 dense_9\n", NB_ERR_FORMAT,
         "t.spec:4:16: no node named 'dense_9' before this line"},
        {"nabla-spec 2\ninput 6\noutput input\noutput input\n", NB_ERR_FORMAT,
         "t.spec:4:1: a second 'output' line"},
        {"nabla-spec 2\ninput 6 dtype=f16\n", NB_ERR_FORMAT,
         "t.spec:2:15: unknown dtype 'f16' (expected f32, or i32 for token ids)"},
        {"nabla-spec 2\ninput 6 name=x\ninput 2 name=x\n", NB_ERR_ARG,
         "t.spec:3:1: nb_model_input: the model already has a node named 'x'"},
        {"nabla-spec 2\ninput None 6\nflatten\n", NB_ERR_SHAPE,
         "t.spec:3:1: flatten 'flatten_1': dimension 1 of its input (None, None, 6) is known "
         "only at run time"},
        {"nabla-spec 2\ninput 4 dtype=i32\ndense 2\n", NB_ERR_ARG,
         "t.spec:3:1: dense 'dense_1': input 0 holds i32 values"},
        {"nabla-spec 2\ninput 4\ndense 3 name=a:b\n", NB_ERR_ARG,
         "t.spec:3:1: Dense layer: name 'a:b' must have"},
        /* sizes whose arithmetic overflows: shape errors, never wrapped sizes */
        {"nabla-spec 1\ninput 1 8 8\nconv2d 1 3 dilation=4611686018427387905\n", NB_ERR_SHAPE,
         "t.spec:3:1: conv2d 'conv2d_1': kernel 3x3, dilation 4611686018427387905x"
         "4611686018427387905 and padding 0,0,0,0 on input (None, 1, 8, 8): the sizes overflow"},
        {"nabla-spec 1\ninput 1 8 8\nconv2d 1 3 pad=9223372036854775807\n", NB_ERR_SHAPE,
         "the sizes overflow"},
        {"nabla-spec 1\ninput 1 8 8\nconv2d 1 3 dilation=4611686018427387904 same=true\n",
         NB_ERR_ARG,
         "padding \"same\" for kernel 3 with dilation 4611686018427387904 "
         "overflows"},
        {"nabla-spec 1\ninput 1 8 8\nmaxpool2d 9223372036854775807 "
         "pad=4611686018427387903\n",
         NB_ERR_SHAPE, "the sizes overflow"},
        {"nabla-spec 1\ninput 1 8 8\nmaxpool2d 3 dilation=9223372036854775807\n", NB_ERR_SHAPE,
         "maxpool2d 'maxpool2d_1': window 3x3, dilation"},
        {"nabla-spec 1\ninput 1 8 8\navgpool2d 4 pad=9223372036854775807\n", NB_ERR_SHAPE,
         "avgpool2d 'avgpool2d_1': padding 9223372036854775807 is more than half the window 4"},
        {"nabla-spec 1\ninput 3037000500 3037000500 3\nflatten\n", NB_ERR_SHAPE,
         "t.spec:3:1: flatten 'flatten_1': its input (None, 3037000500, 3037000500, 3) has too "
         "many elements per sample (the product overflows)"},
        {"nabla-spec 1\ninput 2147483648\ndense 1099511627776\n", NB_ERR_SHAPE,
         "t.spec:3:1: nb_params_add 'dense_1.weight': shape has too many elements"},
        /* a model larger than the machine: refused when parsed, before anything is allocated */
        {"nabla-spec 1\ninput 1000000\ndense 1000000000\n", NB_ERR_NOMEM,
         "t.spec: the model has 1000001000000000 parameters: 8e+06 GB for their values and "
         "gradients, more than this machine's"},
        /* what a model file could not hold: refused in the spec, before any training */
        {"nabla-spec 1\ninput 4\ndense 3 name=caf\xe9\n", NB_ERR_ARG,
         "t.spec:3:1: Dense layer: name 'caf\xe9' must have 1..63 characters of valid UTF-8"},
        {"nabla-spec 1\ndata train=\xff.csv\n", NB_ERR_FORMAT,
         "t.spec:2:1: the path '\xff.csv' is not valid UTF-8"},
        {"nabla-spec 1\ndata label=\xe9\n", NB_ERR_FORMAT,
         "t.spec:2:12: the label column '\xe9' is not valid UTF-8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nb_spec *s = (nb_spec *)1;
        nb_status st = nb_spec_parse(cases[i].text, strlen(cases[i].text), "t.spec", NULL, &s);
        CHECK_MSG(st == cases[i].status, "case %zu: status %s, expected %s (%s)", i,
                  nb_status_str(st), nb_status_str(cases[i].status), nb_last_error());
        CHECK_MSG(strstr(nb_last_error(), cases[i].msg) != NULL,
                  "case %zu: message\n    %s\n  does not contain\n    %s", i, nb_last_error(),
                  cases[i].msg);
        CHECK(s == NULL);
    }
}

/* A spec cannot ask for an unbounded number of layers. */
static void test_layer_limit(void) {
    size_t n = 65537, len = 0;
    char *t = malloc(32 + n * 16);
    len += (size_t)sprintf(t, "nabla-spec 1\ninput 2\n");
    for (size_t i = 0; i < n; i++) len += (size_t)sprintf(t + len, "activation relu\n");
    nb_spec *s = NULL;
    CHECK(nb_spec_parse(t, len, "t.spec", NULL, &s) == NB_ERR_FORMAT && !s);
    CHECK_MSG(strstr(nb_last_error(), "t.spec:65539:1: too many layers (at most 65536)"), "%s",
              nb_last_error());
    free(t);
}

/* CRLF line ends, tabs, and a final line without a newline. */
static void test_whitespace(void) {
    const char *t = "nabla-spec 1\r\ninput\t3\r\n\tdense 2\ttanh  \r\nbatch 5";
    nb_spec *s = parse(t);
    if (!s) return;
    CHECK(s->n_layers == 1 && s->batch == 5 && s->in_shape[0] == 3);
    nb_spec_free(s);
}

/* Relative data paths are relative to the spec file's directory. */
static void test_read_file(void) {
    char dir[] = "/tmp/nabla-spec-XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    char path[128];
    snprintf(path, sizeof path, "%s/m.spec", dir);
    FILE *f = fopen(path, "w");
    fputs("nabla-spec 1\ninput 2\ndense 1\ndata train=sub/x.csv test=/abs/t.csv\n", f);
    fclose(f);
    nb_spec *s = NULL;
    CHECK_OK(nb_spec_read(path, &s));
    char want[160];
    snprintf(want, sizeof want, "%s/sub/x.csv", dir);
    if (s) {
        CHECK(!strcmp(s->data.train, want));
        CHECK(!strcmp(s->data.test, "/abs/t.csv"));
    }
    nb_spec_free(s);
    /* an error names the file */
    f = fopen(path, "w");
    fputs("nabla-spec 1\ninput 2\ndense x\n", f);
    fclose(f);
    CHECK(nb_spec_read(path, &s) == NB_ERR_FORMAT && !s);
    char msg[200];
    snprintf(msg, sizeof msg, "%s:3:7: expected a positive integer", path);
    CHECK_MSG(strstr(nb_last_error(), msg), "got %s", nb_last_error());
    unlink(path);
    rmdir(dir);
    CHECK(nb_spec_read(path, &s) == NB_ERR_IO && !s);
    CHECK(strstr(nb_last_error(), "m.spec") != NULL);
}

/* The example specs stay valid (the data paths need not exist to parse). */
static void test_examples(void) {
    static const char *const files[] = {
        "examples/specs/fmnist_mlp.spec", "examples/specs/fmnist_logreg.spec",
        "examples/specs/digits_mlp.spec", "examples/specs/fmnist_cnn.spec",
        "examples/specs/fmnist_cnn_bn.spec"};
    static const int64_t params[] = {235146, 7850, -1, 184586, -1};
    for (int i = 0; i < 5; i++) {
        nb_spec *s = NULL;
        CHECK_OK(nb_spec_read(files[i], &s));
        if (!s) continue;
        CHECK(s->has_input && s->in_shape[0] > 0 && s->n_layers >= 1 && s->data.train);
        CHECK(s->has_loss && !strcmp(s->loss, "cross_entropy") && s->optim.kind == NB_OPTIM_ADAM);
        nb_model *m = NULL;
        CHECK_OK(nb_spec_build(s, &m));
        if (m && params[i] >= 0)
            CHECK_MSG(nb_model_param_count(m) == params[i], "%s: %lld parameters", files[i],
                      (long long)nb_model_param_count(m));
        nb_model_free(m);
        nb_spec_free(s);
    }
    nb_spec *s = NULL;
    CHECK_OK(nb_spec_read("examples/specs/fmnist_mlp.spec", &s));
    if (s) {
        CHECK(s->batch == 64 && s->epochs == 10 && s->optim.u.adam.lr == 1e-3);
        CHECK(!strcmp(s->data.test, "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"));
        nb_model *m = NULL;
        CHECK_OK(nb_spec_build(s, &m));
        CHECK(nb_model_param_count(m) == 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
        nb_model_free(m);
    }
    nb_spec_free(s);
    CHECK_OK(nb_spec_read("examples/specs/digits_mlp.spec", &s));
    if (s) CHECK(!strcmp(s->data.train, "examples/specs/../../data/digits/digits.csv"));
    nb_spec_free(s);
}

/* The tabular example specs (docs/tabular.md) parse, say what their tables are, and build once
 * the data gives the input width (their CSV files are made by data/tabular/make_sklearn.py). */
static void test_tabular_examples(void) {
    static const char *const files[] = {"examples/specs/iris.spec", "examples/specs/linnerud.spec",
                                        "examples/specs/binary.spec"};
    static const char *const labels[] = {"species", "weight,waist,pulse", "target"};
    static const int64_t widths[] = {4, 3, 12};
    static const int64_t params[] = {4 * 16 + 16 + 16 * 3 + 3, 3 * 3 + 3,
                                     12 * 32 + 32 + 32 * 2 + 2};
    for (int i = 0; i < 3; i++) {
        nb_spec *s = NULL;
        CHECK_OK(nb_spec_read(files[i], &s));
        if (!s) continue;
        CHECK_MSG(s->input_auto && s->data.train && s->data.test && s->data.label &&
                      !strcmp(s->data.label, labels[i]),
                  "%s", files[i]);
        CHECK(s->data.has_norm && s->data.norm == NB_NORM_STANDARD && s->data.norm_per_feature);
        CHECK(i != 1 ||
              (s->data.has_task && s->data.task == NB_TASK_REGRESSION && s->data.has_target_norm &&
               s->data.target_norm == 1 && !strcmp(s->loss, "mse")));
        CHECK(i != 2 || (s->data.categorical && !strcmp(s->data.categorical, "colour")));
        CHECK_OK(nb_spec_set_input_width(s, widths[i]));
        nb_model *m = NULL;
        CHECK_OK(nb_spec_build(s, &m));
        if (m)
            CHECK_MSG(nb_model_param_count(m) == params[i], "%s: %lld parameters", files[i],
                      (long long)nb_model_param_count(m));
        nb_model_free(m);
        nb_spec_free(s);
    }
}

/* The learning rate set from outside (a command line's --lr) moves the schedule's base too. */
static void test_set_lr(void) {
    nb_spec *s = parse("nabla-spec 1\noptimizer sgd lr=0.5\nschedule step step_size=2 gamma=0.5\n");
    if (!s) return;
    CHECK(s->schedule.base_lr == 0.5);
    CHECK_OK(nb_spec_set_lr(s, 0.25));
    CHECK(s->optim.u.sgd.lr == 0.25 && s->schedule.base_lr == 0.25);
    CHECK(nb_spec_set_lr(s, -1) == NB_ERR_ARG);
    nb_spec_free(s);
}

/* Numbers print in the fewest digits that read back exactly. */
static void test_number_text(void) {
    char b[48];
    nbi_fmt_float(b, sizeof b, 0.1f);
    CHECK(!strcmp(b, "0.1"));
    nbi_fmt_double(b, sizeof b, 1e-3);
    CHECK(!strcmp(b, "0.001"));
    nbi_fmt_double(b, sizeof b, 1.0 / 3.0);
    CHECK(strtod(b, NULL) == 1.0 / 3.0);
    nb_rng r;
    nb_rng_seed(&r, 5);
    for (int i = 0; i < 20000; i++) {
        uint64_t bits = nb_rng_u64(&r);
        uint32_t b32 = (uint32_t)bits;
        float f;
        double d;
        memcpy(&f, &b32, 4);
        memcpy(&d, &bits, 8);
        if (isfinite(f)) {
            nbi_fmt_float(b, sizeof b, f);
            CHECK_MSG(strtof(b, NULL) == f, "%s", b);
        }
        if (isfinite(d)) {
            nbi_fmt_double(b, sizeof b, d);
            CHECK_MSG(strtod(b, NULL) == d, "%s", b);
        }
    }
}

/* ---- allocation failures ---------------------------------------------------------------- */

static atomic_long calls, fail_at;

static void *failing_alloc(size_t size, size_t align, void *user) {
    (void)user;
    long k = atomic_fetch_add(&calls, 1) + 1;
    if (k == atomic_load(&fail_at)) return NULL;
    void *p = NULL;
    if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size ? size : 1))
        return NULL;
    return p;
}

static void plain_free(void *p, void *user) {
    (void)user;
    free(p);
}

static void test_allocation_failures(void) {
    bool done = false;
    for (long k = 1; k < 2000 && !done; k++) {
        atomic_store(&calls, 0);
        atomic_store(&fail_at, k);
        nb_set_allocator(&(nb_allocator){failing_alloc, plain_free, NULL});
        nb_spec *s = NULL;
        nb_model *m = NULL;
        nb_status st = nb_spec_parse(full, strlen(full), "t.spec", "/d", &s);
        if (st == NB_OK) st = nb_spec_build(s, &m);
        size_t n = 0;
        if (st == NB_OK) {
            n = nb_model_spec(m, NULL, 0);
            if (n) n = nb_spec_training_text(s, NULL, 0);
            if (!n) st = NB_ERR_NOMEM;
        }
        nb_set_allocator(NULL);
        CHECK_MSG(st == NB_OK || st == NB_ERR_NOMEM, "failing allocation %ld: %s (%s)", k,
                  nb_status_str(st), nb_last_error());
        done = st == NB_OK;
        nb_model_free(m);
        nb_spec_free(s);
    }
    CHECK(done);
}

/* The C API's spellings of layer kinds (max_pool2d as nb_model_max_pool2d, batch_norm,
 * layer_norm, rms_norm, avg_pool2d, global_avg_pool2d) read as the spec's short ones: the same
 * model, the same canonical text (which keeps the short spellings), the same weights. */
static void test_c_spellings(void) {
    static const char *const pairs[][2] = {
        {"nabla-spec 1\ninput 2 8 8\nconv2d 4 3\nbatchnorm momentum=0.2\nmaxpool2d 2\n"
         "avgpool2d 2 stride=1\nglobal_avgpool2d\n",
         "nabla-spec 1\ninput 2 8 8\nconv2d 4 3\nbatch_norm momentum=0.2\nmax_pool2d 2\n"
         "avg_pool2d 2 stride=1\nglobal_avg_pool2d\n"},
        {"nabla-spec 1\ninput 6 8\nlayernorm eps=1e-3\nrmsnorm affine=false\ndense 3\n",
         "nabla-spec 1\ninput 6 8\nlayer_norm eps=1e-3\nrms_norm affine=false\ndense 3\n"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
        nb_spec *a = parse(pairs[i][0]), *b = parse(pairs[i][1]);
        nb_model *ma = NULL, *mb = NULL;
        if (a) CHECK_OK(nb_spec_build(a, &ma));
        if (b) CHECK_OK(nb_spec_build(b, &mb));
        if (ma && mb) {
            char *ca = canonical(a, ma), *cb = canonical(b, mb);
            CHECK_MSG(!strcmp(ca, cb), "%s---\n%s", ca, cb);
            CHECK(!strstr(cb, "_pool2d") && !strstr(cb, "_norm"));
            nb_params *pa = nb_model_params(ma), *pb = nb_model_params(mb);
            CHECK(nb_params_numel(pa) == nb_params_numel(pb));
            if (nb_params_numel(pa) == nb_params_numel(pb))
                CHECK(!memcmp(nb_params_data(pa), nb_params_data(pb),
                              sizeof(float) * (size_t)nb_params_numel(pa)));
            free(ca);
            free(cb);
        }
        nb_model_free(ma);
        nb_model_free(mb);
        nb_spec_free(a);
        nb_spec_free(b);
        round_trip(pairs[i][1]);
    }
}

static const nbt_case cases[] = {
    {"parse_full", test_parse_full},
    {"defaults", test_defaults},
    {"round_trip_every_kind", test_round_trip_every_kind},
    {"names", test_names},
    {"model_spec_from_c", test_model_spec_from_c},
    {"errors", test_errors},
    {"layer_limit", test_layer_limit},
    {"whitespace", test_whitespace},
    {"read_file", test_read_file},
    {"examples", test_examples},
    {"tabular_examples", test_tabular_examples},
    {"set_lr", test_set_lr},
    {"number_text", test_number_text},
    {"allocation_failures", test_allocation_failures},
    {"c_spellings", test_c_spellings},
};

NBT_MAIN(cases)
