//! The DSS REST client: auth, TLS options, a bound on requests in flight, retries with
//! backoff, and errors typed from DSS error bodies.
