/* int8 cosine rescoring of gathered rows (rag.store.scoring.rescore_int8 is its Python face).
 *
 * The rescoring stage of binary+int8 scores a few hundred candidate rows of the memory-mapped int8 file
 * against the query. In numpy that is a fancy-index gather into a new array, a float32 conversion, a GEMV
 * and a sum of squares: ~0.6-0.8 ms for 200 rows at 1M chunks, all of it holding the GIL, which is most of
 * a search's Python time once the Hamming scan is at the read floor. Here each row is read once, in place,
 * and its dot product with the query and its sum of squares are accumulated in int32 (exact: 127 * 127 *
 * 4096 < 2^31), without the GIL.
 *
 * The result is numpy's float32 arithmetic step for step, so scores are the same bits as
 * rag.quantization.cosine_int8 wherever its float32 sums are exact (below 2^24: every width up to 1040):
 * cos = dot / (sqrtf(|r|^2) * sqrtf(|q|^2)), 0 for a zero vector.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

/* Dot product with the query and sum of squares of one row; plain loops the compiler vectorizes. */
static void dot_and_square(const int8_t *query, const int8_t *row, Py_ssize_t d, int32_t *dot, int32_t *square) {
    int32_t qr = 0, rr = 0;
    for (Py_ssize_t j = 0; j < d; j++) {
        qr += (int32_t)query[j] * (int32_t)row[j];
        rr += (int32_t)row[j] * (int32_t)row[j];
    }
    *dot = qr;
    *square = rr;
}

enum { PREFETCH_ROWS = 4 };

static void cosines(const int8_t *query, const int8_t *rows, Py_ssize_t d, const int64_t *picked, Py_ssize_t m,
                    float *out) {
    int32_t qq, unused;
    dot_and_square(query, query, d, &unused, &qq);
    const float query_norm = sqrtf((float)qq);
    for (Py_ssize_t i = 0; i < m; i++) {
        /* The candidates are random rows of a file far larger than the caches: fetching a few rows ahead
         * overlaps their memory latency with this row's arithmetic. */
        if (i + PREFETCH_ROWS < m)
            for (Py_ssize_t at = 0; at < d; at += 64)
                __builtin_prefetch(rows + picked[i + PREFETCH_ROWS] * d + at);
        int32_t dot, square;
        dot_and_square(query, rows + picked[i] * d, d, &dot, &square);
        float norm = sqrtf((float)square) * query_norm;
        out[i] = norm > 0.0f ? (float)dot / norm : 0.0f;
    }
}

PyDoc_STRVAR(cosines_doc, "cosines(query, rows, n_rows, d, picked, m, out)\n\nCosine of the int8 query (d,) with "
                          "rows[picked[i]] of the (n_rows, d) int8 matrix into out[i] (float32, m); picked is "
                          "int64 and every entry must lie in [0, n_rows).");

static PyObject *cosines_py(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer query, rows, picked, out;
    Py_ssize_t n_rows, d, m;
    if (!PyArg_ParseTuple(args, "y*y*nny*nw*", &query, &rows, &n_rows, &d, &picked, &m, &out))
        return NULL;
    int bad = 0;
    if (d < 1 || d > 4096 || n_rows < 0 || m < 0) {
        PyErr_SetString(PyExc_ValueError, "cosines: 1 <= d <= 4096; n_rows, m >= 0");
        bad = 1;
    } else if (query.len < d || rows.len < n_rows * d || picked.len < m * 8 || out.len < m * 4) {
        PyErr_SetString(PyExc_ValueError, "cosines: a buffer is shorter than the call implies");
        bad = 1;
    }
    const int64_t *at = picked.buf;
    for (Py_ssize_t i = 0; !bad && i < m; i++) {
        if (at[i] < 0 || at[i] >= n_rows) {
            PyErr_Format(PyExc_ValueError, "cosines: row %lld is outside [0, %zd)", (long long)at[i], n_rows);
            bad = 1;
        }
    }
    if (!bad) {
        Py_BEGIN_ALLOW_THREADS
        cosines(query.buf, rows.buf, d, at, m, out.buf);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&query);
    PyBuffer_Release(&rows);
    PyBuffer_Release(&picked);
    PyBuffer_Release(&out);
    if (bad)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"cosines", cosines_py, METH_VARARGS, cosines_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "rag._int8", "int8 cosine rescoring of gathered rows.", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__int8(void) { return PyModule_Create(&module); }
