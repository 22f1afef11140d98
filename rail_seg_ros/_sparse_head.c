/* The sparse head's inner loop, compiled (rail_seg_ros/head.py has the rule, the numpy fallback and the tests).
 *
 * labels(logits, low_labels, y0, wy, x0, wx, out, channels, low_h, low_w): for every output pixel (y, x) the
 * cell (y0[y], x0[x]); where its four corners share one label the pixel gets it, else the argmax over the
 * cell's candidate classes of the bilinearly interpolated logits, computed in float32 in torch's order of
 * operations ((v00 * x0 + v01 * x1) * y0 + (v10 * x0 + v11 * x1) * y1), first index on ties.
 * Plain C and the buffer protocol: no numpy headers, builds for any CPython >= 3.8. With threads > 1 the
 * output rows are split where the cell row changes, so no two threads touch one cell's cache.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Candidates of one mixed cell: the classes whose largest corner reaches the largest corner minimum. */
static int cell_candidates(const float *logits, Py_ssize_t plane, Py_ssize_t c00, Py_ssize_t c01,
                           Py_ssize_t c10, Py_ssize_t c11, int channels, uint8_t *classes) {
    float floor_value = -FLT_MAX;
    int c, count = 0;
    for (c = 0; c < channels; c++) {
        const float *p = logits + c * plane;
        float low = p[c00];
        if (p[c01] < low) low = p[c01];
        if (p[c10] < low) low = p[c10];
        if (p[c11] < low) low = p[c11];
        if (low > floor_value) floor_value = low;
    }
    for (c = 0; c < channels; c++) {
        const float *p = logits + c * plane;
        float high = p[c00];
        if (p[c01] > high) high = p[c01];
        if (p[c10] > high) high = p[c10];
        if (p[c11] > high) high = p[c11];
        if (high >= floor_value) classes[count++] = (uint8_t)c;
    }
    return count;
}

/* Output columns [begin, end) read cell column j (x0 is sorted). */
static void column_spans(const int64_t *x0, Py_ssize_t width, Py_ssize_t low_w, Py_ssize_t *begin,
                         Py_ssize_t *end) {
    Py_ssize_t x, j;
    for (j = 0; j < low_w; j++) begin[j] = end[j] = 0;
    for (x = width - 1; x >= 0; x--) begin[x0[x]] = x;
    for (x = 0; x < width; x++) end[x0[x]] = x + 1;
}

typedef struct {
    const float *logits;
    const uint8_t *low;
    const int64_t *y0, *x0;
    const float *wy, *wx;
    uint8_t *out;
    Py_ssize_t first_row, end_row, width, low_h, low_w;
    int channels;
    int8_t *count;      /* per cell: -1 not seen yet, 0 uniform, else its number of candidates */
    uint8_t *classes;   /* per cell: its candidates, ascending */
    const Py_ssize_t *begin, *end;
} Job;

static void sample(const Job *job) {
    const float *logits = job->logits, *wy = job->wy, *wx = job->wx;
    const uint8_t *low = job->low;
    const int64_t *y0 = job->y0;
    const Py_ssize_t *begin = job->begin, *end = job->end;
    Py_ssize_t width = job->width, low_h = job->low_h, low_w = job->low_w, plane = low_h * low_w, y, x, j;
    int channels = job->channels;
    int8_t *count = job->count;
    uint8_t *classes = job->classes, *out = job->out;
    for (y = job->first_row; y < job->end_row; y++) {
        Py_ssize_t i = y0[y], i1 = i + 1 < low_h ? i + 1 : low_h - 1;
        float fy1 = wy[y], fy0 = 1.0f - fy1;
        uint8_t *row = out + y * width;
        for (j = 0; j < low_w; j++) {
            Py_ssize_t j1 = j + 1 < low_w ? j + 1 : low_w - 1, cell = i * low_w + j;
            Py_ssize_t c00 = cell, c01 = i * low_w + j1, c10 = i1 * low_w + j, c11 = i1 * low_w + j1;
            const uint8_t *candidate = classes + cell * channels;
            uint8_t label = low[c00];
            if (begin[j] == end[j]) continue; /* no output column reads this cell */
            if (count[cell] < 0) { /* first visit: uniform (0) or the number of candidates */
                int uniform = low[c01] == label && low[c10] == label && low[c11] == label;
                count[cell] = uniform ? 0 : (int8_t)cell_candidates(logits, plane, c00, c01, c10, c11, channels,
                                                                    classes + cell * channels);
            }
            if (count[cell] == 0) {
                memset(row + begin[j], label, (size_t)(end[j] - begin[j]));
                continue;
            }
            for (x = begin[j]; x < end[j]; x++) {
                float fx1 = wx[x], fx0 = 1.0f - fx1, best = -FLT_MAX;
                int k;
                label = candidate[0];
                for (k = 0; k < count[cell]; k++) {
                    const float *p = logits + candidate[k] * plane;
                    float top = p[c00] * fx0 + p[c01] * fx1;
                    float bottom = p[c10] * fx0 + p[c11] * fx1;
                    float value = top * fy0 + bottom * fy1;
                    if (value > best) {
                        best = value;
                        label = candidate[k];
                    }
                }
                row[x] = label;
            }
        }
    }
}

static void *run_job(void *job) {
    sample((const Job *)job);
    return NULL;
}

/* Rows [0, height) in up to ``threads`` bands that start where the cell row changes; the last band here. */
static void sample_rows(Job job, Py_ssize_t height, int threads) {
    pthread_t workers[8];
    Job jobs[8];
    int started = 0, k;
    Py_ssize_t start = 0;
    if (threads > 8) threads = 8;
    for (k = 1; k < threads; k++) {
        Py_ssize_t stop = height * k / threads;
        while (stop > start && stop < height && job.y0[stop] == job.y0[stop - 1]) stop++;
        if (stop <= start || stop >= height) continue;
        jobs[started] = job;
        jobs[started].first_row = start;
        jobs[started].end_row = stop;
        if (pthread_create(&workers[started], NULL, run_job, &jobs[started]) != 0) {
            sample(&jobs[started]); /* no thread: do the band here */
        } else {
            started++;
        }
        start = stop;
    }
    job.first_row = start;
    job.end_row = height;
    sample(&job);
    for (k = 0; k < started; k++) pthread_join(workers[k], NULL);
}

static int check(Py_buffer *buffer, Py_ssize_t items, Py_ssize_t itemsize, const char *name) {
    if (buffer->len != items * itemsize) {
        PyErr_Format(PyExc_ValueError, "sparse head: %s has %zd bytes, expected %zd", name, buffer->len,
                     items * itemsize);
        return 0;
    }
    return 1;
}

/* Every sample index inside the low-resolution map (the loop reads memory by them). */
static int in_range(Py_buffer *index, Py_ssize_t items, Py_ssize_t size, const char *name) {
    const int64_t *value = index->buf;
    Py_ssize_t k;
    for (k = 0; k < items; k++) {
        if (value[k] < 0 || value[k] >= size) {
            PyErr_Format(PyExc_ValueError, "sparse head: %s[%zd] = %lld outside 0..%zd", name, k,
                         (long long)value[k], size - 1);
            return 0;
        }
    }
    return 1;
}

static PyObject *labels(PyObject *self, PyObject *args) {
    Py_buffer logits, low, y0, wy, x0, wx, out;
    int channels, threads = 1;
    Py_ssize_t low_h, low_w, height, width;
    PyObject *result = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*w*inn|i", &logits, &low, &y0, &wy, &x0, &wx, &out, &channels, &low_h,
                          &low_w, &threads))
        return NULL;
    height = y0.len / (Py_ssize_t)sizeof(int64_t);
    width = x0.len / (Py_ssize_t)sizeof(int64_t);
    if (channels < 1 || channels > 127) {
        PyErr_SetString(PyExc_ValueError, "sparse head: 1 to 127 classes");
    } else if (check(&logits, channels * low_h * low_w, sizeof(float), "logits") &&
               check(&low, low_h * low_w, 1, "low_labels") && check(&wy, height, sizeof(float), "wy") &&
               check(&wx, width, sizeof(float), "wx") && check(&out, height * width, 1, "out") &&
               in_range(&y0, height, low_h, "y0") && in_range(&x0, width, low_w, "x0")) {
        int8_t *count = malloc((size_t)(low_h * low_w));
        uint8_t *classes = malloc((size_t)(low_h * low_w * channels));
        Py_ssize_t *spans = malloc(2 * sizeof(Py_ssize_t) * (size_t)low_w);
        if (count == NULL || classes == NULL || spans == NULL) {
            PyErr_NoMemory();
        } else {
            Job job = {logits.buf, low.buf, y0.buf, x0.buf, wy.buf, wx.buf, out.buf, 0, height, width, low_h,
                       low_w, channels, count, classes, spans, spans + low_w};
            memset(count, -1, (size_t)(low_h * low_w));
            column_spans(x0.buf, width, low_w, spans, spans + low_w);
            Py_BEGIN_ALLOW_THREADS
            sample_rows(job, height, threads);
            Py_END_ALLOW_THREADS
            result = Py_None;
            Py_INCREF(result);
        }
        free(count);
        free(classes);
        free(spans);
    }
    PyBuffer_Release(&logits);
    PyBuffer_Release(&low);
    PyBuffer_Release(&y0);
    PyBuffer_Release(&wy);
    PyBuffer_Release(&x0);
    PyBuffer_Release(&wx);
    PyBuffer_Release(&out);
    return result;
}

static PyMethodDef methods[] = {
    {"labels", labels, METH_VARARGS, "Sparse-head labels into a uint8 buffer (see rail_seg_ros/head.py)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_sparse_head", NULL, -1, methods};

PyMODINIT_FUNC PyInit__sparse_head(void) { return PyModule_Create(&module); }
