/* web/playground.h — the C side of the page in web/: 2-D datasets made from an explicit
 * generator, and training sessions of small dense networks that the page drives, inspects
 * and draws. Compiled to WebAssembly by `make wasm` (the functions marked PG_EXPORT are what
 * the page calls), and natively by the test tests/test_web.c.
 *
 * A session (pg_net) is one dataset and one network: inputs x ∈ R², one output, hidden layers
 * of one activation. Two losses:
 *   the method's (classic = 1)  a = σ(z) at the output, E = ½ Σ (a − y)²     (examples/xor.c)
 *   logistic (classic = 0)      a logit at the output, binary cross-entropy, the batch mean
 * Three optimizers: GD (the whole set each step), SGD (shuffled mini-batches), Adam
 * (shuffled mini-batches, torch.optim.Adam). Every layer's z = x W + b and a = f(z) can be
 * read at any point of the plane (pg_net_inspect) or over a grid (pg_net_grid). */
#ifndef NABLA_WEB_PLAYGROUND_H
#define NABLA_WEB_PLAYGROUND_H

#include <nabla.h>

#ifdef __EMSCRIPTEN__
#include <emscripten.h>
#define PG_EXPORT EMSCRIPTEN_KEEPALIVE
#else
#define PG_EXPORT
#endif

/* ---- datasets ------------------------------------------------------------------------------
 * Points of two classes in the plane, labels alternating (sample i is class i mod 2), drawn
 * from `rng` only, so a seed gives the same set on every run; the noise is Gaussian with
 * standard deviation `noise` on each coordinate. All lie within about [-1.2, 1.2]² at noise 0.
 *   XOR      the four corners (0,0) (0,1) (1,0) (1,1), labels 0 1 1 0 (n must be 4; no noise)
 *   MOONS    two interleaved half circles of radius 1 (sklearn's make_moons), centred
 *   CIRCLES  class 1 on the circle of radius 0.5, class 0 on the circle of radius 1
 *   SPIRAL   two arms, each 1.75 turns from radius 0.05 to 1, the second the first turned by π */
typedef enum pg_data {
    PG_DATA_XOR = 0,
    PG_DATA_MOONS,
    PG_DATA_CIRCLES,
    PG_DATA_SPIRAL,
    PG_DATA_COUNT
} pg_data;

#define PG_MAX_POINTS 4096

/* Fills x [n, 2] (row-major) and y [n] with 0/1. NB_ERR_ARG for an unknown kind, n outside
 * 2..PG_MAX_POINTS (4 for XOR), or a noise that is negative, above 1 or not a number. */
nb_status pg_data_make(pg_data kind, int n, float noise, nb_rng *rng, float *x, float *y);
/* "xor", "moons", "circles", "spiral"; NULL for an unknown kind. */
const char *pg_data_name(pg_data kind);

/* ---- sessions ------------------------------------------------------------------------------ */

typedef enum pg_optim { PG_GD = 0, PG_SGD, PG_ADAM, PG_OPTIM_COUNT } pg_optim;

#define PG_MAX_HIDDEN 6 /* hidden layers */
#define PG_MAX_UNITS 32 /* units in one hidden layer */

typedef struct pg_config {
    pg_data data;
    int points; /* n (4 for XOR) */
    float noise;
    uint64_t seed; /* the dataset's generator, the weights' initialisation, the shuffles */
    int hidden[PG_MAX_HIDDEN];
    int n_hidden;      /* 0..PG_MAX_HIDDEN; 0 is logistic regression */
    nb_activation act; /* of the hidden layers: NB_ACT_SIGMOID, NB_ACT_TANH or NB_ACT_RELU */
    pg_optim optim;
    double lr;
    int batch;   /* SGD and Adam: samples per step, 1..points; GD: ignored */
    int classic; /* 1: σ output and ½ Σ (a − y)²; 0: logit and binary cross-entropy */
} pg_config;

typedef struct pg_net pg_net;

/* Makes the dataset and the network; NULL on a bad setting, with the reason in pg_error(). */
pg_net *pg_net_new(const pg_config *cfg);
void pg_net_free(pg_net *net); /* NULL is a no-op */

/* Trains `epochs` passes over the dataset (each ⌈n / batch⌉ steps; one step for GD) and
 * returns the loss of the last epoch: its steps' losses weighted by their sizes (for GD,
 * the loss of the one forward pass of that epoch, as examples/xor.c prints it). NaN on an
 * error (pg_error() says which), the network then as the last good step left it. */
double pg_net_train(pg_net *net, int epochs);
/* Epochs and optimizer steps taken so far. */
int64_t pg_net_epochs(const pg_net *net);
int64_t pg_net_steps(const pg_net *net);
/* The fraction of the dataset classified right: output a > 0.5 (classic) or logit > 0,
 * against label 1. NaN on an error. */
double pg_net_accuracy(pg_net *net);

/* Layers with weights: the hidden ones, then the output layer (index n_hidden). */
int pg_net_layers(const pg_net *net);
/* Units of layer l (1 for the output layer); 0 out of range. */
int pg_net_units(const pg_net *net, int l);
/* Layer l's W [in, units] (row-major) and b [units], pointing into the model's parameter
 * store: valid until pg_net_free. NULL out of range. */
const float *pg_net_weight(const pg_net *net, int l);
const float *pg_net_bias(const pg_net *net, int l);

/* z and a of every unit of every layer at the point (x1, x2): for each layer in order, its
 * units' z, then their a. out must hold 2 Σ units floats (pg_net_inspect_size). The output
 * layer's a is the probability of class 1 (σ of the logit when classic is 0). Returns the
 * number of floats written; -1 on an error. */
int pg_net_inspect_size(const pg_net *net);
int pg_net_inspect(pg_net *net, float x1, float x2, float *out);

/* a of unit u of layer l (the output's probability for l = n_hidden) over a res × res grid of
 * cell centres covering [lo, hi]² — row r is x2 = hi − (r + ½)(hi − lo)/res, top row first, and
 * column c is x1 = lo + (c + ½)(hi − lo)/res — written row-major to out (res² floats).
 * res 1..512. NB_OK or an error status (pg_error() says which). */
nb_status pg_net_grid(pg_net *net, int l, int u, int res, float lo, float hi, float *out);

/* The dataset: x [n, 2] and y [n]; n from pg_net_points. */
int pg_net_points(const pg_net *net);
const float *pg_net_x(const pg_net *net);
const float *pg_net_y(const pg_net *net);

/* The outputs of the last GD epoch's forward pass (the network's a for every sample, before
 * that epoch's update) printed as nb_tensor_print prints them — "array([[0.029994], ..." —
 * or, before any training or after mini-batch steps, the outputs now. NULL on an error. The
 * text lives in the session until the next call. */
const char *pg_net_print_outputs(pg_net *net);

/* The page's constructor: pg_net_new with the dataset ("xor", "moons", "circles", "spiral"),
 * activation ("sigmoid", "tanh", "relu") and optimizer ("gd", "sgd", "adam") by name, the
 * hidden layers' units as an array of n_hidden ints. NULL on an error, as pg_net_new. */
pg_net *pg_new(const char *data, int points, float noise, unsigned seed, const int *hidden,
               int n_hidden, const char *act, const char *optim, double lr, int batch, int classic);

/* The last error's message ("" if none): the playground's own, or the library's
 * nb_last_error() that it passed on. */
const char *pg_error(void);
/* Records a message (printf format) and returns s. */
nb_status pg_set_error(nb_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
