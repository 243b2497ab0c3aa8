//! Entry points for the fuzz targets (issue 15, the `fuzz` crate): the parser of OCF
//! meta-data, which an agent script on the node prints and the cluster reads. It takes any
//! text and must refuse it with an error, never panic. Not an API.

/// An OCF resource agent's meta-data document.
pub fn ocf_meta_data(document: &str) {
    let _ = crate::ocf::type_info_from_meta_data("ocf:fuzz:fuzz", document);
}
