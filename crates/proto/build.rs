//! Compiles proto/ with protox (pure Rust), so building needs no protoc install.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = [
        proto_root.join("aftersales/v1/resources.proto"),
        proto_root.join("aftersales/v1/aftersales_service.proto"),
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    let fds = protox::compile(&files, [&proto_root])?;
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    // The descriptor set also feeds gRPC reflection.
    std::fs::write(
        out_dir.join("aftersales_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        // The domain keeps platform attributes in a BTreeMap: the message takes it by move,
        // with no rehashing per answer, and encodes them in a stable order.
        .btree_map(".aftersales.v1.Case.platform_attributes")
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
