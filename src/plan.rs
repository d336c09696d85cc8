//! The plan: a pure function from the desired state (manifests) and the observed state (live
//! DSS documents) to the operations that make the instance match. No I/O here.
