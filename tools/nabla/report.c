/* tools/nabla/report.c — the metrics a command reports, by the loss the model was trained
 * with, and how they are printed: one "name value" line each (eval), one line of them (the test
 * set after training), a JSON object (--json), or their mean ± standard deviation over folds
 * (cv). Names are those of scikit-learn's metrics where it has them. */
#include "cli.h"

#include <math.h>
#include <string.h>

static bool is_classifier(nb_loss_kind loss) {
    return loss == NB_LOSS_CROSS_ENTROPY || loss == NB_LOSS_NLL || loss == NB_LOSS_BCE ||
           loss == NB_LOSS_BCE_LOGITS;
}

unsigned cli_report_metrics(nb_loss_kind loss) {
    return is_classifier(loss) ? NB_METRIC_ACCURACY | NB_METRIC_F1 | NB_METRIC_ROC_AUC
                               : NB_METRIC_R2 | NB_METRIC_RMSE | NB_METRIC_MAE | NB_METRIC_MSE;
}

int cli_report_values(const nb_metric_values *v, nb_loss_kind loss, int top_k, cli_metric *out,
                      int max) {
    static char topk_name[24];
    snprintf(topk_name, sizeof topk_name, "top-%d", top_k);
    const cli_metric all[] = {
        {"loss", v->loss, 0},
        {"accuracy", v->accuracy, 1},
        {topk_name, v->top_k, 1},
        {"precision", v->precision, 1},
        {"recall", v->recall, 1},
        {"f1", v->f1, 1},
        {"precision_macro", v->precision_macro, 1},
        {"recall_macro", v->recall_macro, 1},
        {"f1_macro", v->f1_macro, 1},
        {"f1_micro", v->f1_micro, 1},
        {"roc_auc", v->roc_auc, 1},
        {"r2", v->r2, 1},
        {"rmse", v->rmse, 0},
        {"mae", v->mae, 0},
        {"mse", v->mse, 0},
    };
    (void)loss;
    int n = 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0] && n < max; i++)
        if (!isnan(all[i].value)) out[n++] = all[i];
    return n;
}

static void put_value(FILE *f, const cli_metric *m) {
    if (m->ratio)
        fprintf(f, "%.4f", m->value);
    else
        fprintf(f, "%.6g", m->value);
}

void cli_report_lines(FILE *f, const nb_metric_values *v, nb_loss_kind loss, int top_k) {
    cli_metric m[24];
    int n = cli_report_values(v, loss, top_k, m, 24);
    fprintf(f, "%-9s %lld\n", "samples", (long long)v->count);
    for (int i = 0; i < n; i++) {
        fprintf(f, "%-9s ", m[i].name);
        put_value(f, &m[i]);
        if (!strcmp(m[i].name, "loss")) fprintf(f, "   (%s)", nb_loss_name(loss));
        fprintf(f, "\n");
    }
}

void cli_report_line(FILE *f, const char *prefix, const nb_metric_values *v, nb_loss_kind loss,
                     int top_k) {
    cli_metric m[24];
    int n = cli_report_values(v, loss, top_k, m, 24);
    fprintf(f, "%s%lld samples", prefix, (long long)v->count);
    for (int i = 0; i < n; i++) {
        fprintf(f, ", %s ", m[i].name);
        put_value(f, &m[i]);
    }
    fprintf(f, "\n");
}

void cli_report_json(FILE *f, const nb_metric_values *v, nb_loss_kind loss, int top_k,
                     const char *task) {
    cli_metric m[24];
    int n = cli_report_values(v, loss, top_k, m, 24);
    fprintf(f, "{\"samples\": %lld, \"loss_function\": \"%s\"", (long long)v->count,
            nb_loss_name(loss));
    if (task) fprintf(f, ", \"task\": \"%s\"", task);
    for (int i = 0; i < n; i++) fprintf(f, ", \"%s\": %.9g", m[i].name, m[i].value);
    fprintf(f, "}\n");
}
