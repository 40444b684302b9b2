fn main() {
    quarry_codegen::build_script();
}
