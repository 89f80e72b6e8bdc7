//! CIF features beyond pymatgen's P1 files: uncertainties, symmetry operations,
//! partial occupancy, and clear errors.

use mmhost_materials::cif::read_cif;

const SILICON: &str = "data_Si
_cell_length_a 5.431(2)
_cell_length_b 5.431(2)
_cell_length_c 5.431(2)
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'F d -3 m'
loop_
_symmetry_equiv_pos_as_xyz
x,y,z
x,1/2+y,1/2+z
1/2+x,y,1/2+z
1/2+x,1/2+y,z
1/4-x,1/4-y,1/4-z
1/4-x,3/4-y,3/4-z
3/4-x,1/4-y,3/4-z
3/4-x,3/4-y,1/4-z
loop_
_atom_site_label
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
Si1 0.0 0.0 0.0 # comment after a row
";

#[test]
fn uncertainties_and_symmetry_operations() {
    let s = &read_cif(SILICON).unwrap()[0];
    assert!((s.lattice.lengths()[0] - 5.431).abs() < 1e-12);
    // The 4 F-centring translations, alone and after the inversion through
    // (1/8, 1/8, 1/8): the 8 atoms of the conventional diamond cell.
    assert_eq!(s.len(), 8);
    assert!(s.is_ordered());
}

#[test]
fn partial_occupancy_is_kept_and_reported() {
    let text = "data_FeCo
_cell_length_a 2.85
_cell_length_b 2.85
_cell_length_c 2.85
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
Fe1 Fe2+ 0 0 0 0.5
Co1 Co 0 0 0 0.5
Fe2 Fe 0.5 0.5 0.5 1.0
";
    let s = &read_cif(text).unwrap()[0];
    assert_eq!(s.len(), 2);
    assert!(!s.is_ordered());
    let report = s.disorder_report();
    assert_eq!(
        report,
        vec!["Fe1 at (0, 0, 0): Fe 0.5 + Co 0.5".to_string()]
    );
}

#[test]
fn bad_files_give_reasons() {
    let err = read_cif("data_x\n_cell_length_a 'unterminated\n").unwrap_err();
    assert!(err.to_string().contains("line 2: unterminated"), "{err}");
    let err = read_cif(&SILICON.replace("_cell_length_c 5.431(2)\n", "")).unwrap_err();
    assert!(err.to_string().contains("missing _cell_length_c"), "{err}");
    let no_ops = SILICON.replace("_symmetry_equiv_pos_as_xyz", "_some_other_tag");
    let err = read_cif(&no_ops).unwrap_err();
    assert!(
        err.to_string()
            .contains("no symmetry operations listed for space group Fd-3m"),
        "{err}"
    );
    let err = read_cif(&SILICON.replace("Si1 0.0", "Qq1 0.0")).unwrap_err();
    assert!(err.to_string().contains("unknown element 'Qq1'"), "{err}");
    let err = read_cif(&SILICON.replace("Si1 0.0 0.0 0.0", "Si1 0.0 0.0")).unwrap_err();
    assert!(err.to_string().contains("not a multiple"), "{err}");
    assert!(read_cif("just text").is_err());
}

#[test]
fn the_sites_of_all_blocks_are_limited() {
    // A block of 10 atom-site rows under 192 translations along a 400 Å axis (2.08 Å
    // apart): 1,920 sites in 3.5 kB. Repeated past 2^22 sites in all, 8 MB of text
    // whose symmetry images stay under one per byte.
    let operations: String = (0..192).map(|k| format!("'x, y+{k}/192, z'\n")).collect();
    let rows: String = (0..10)
        .map(|i| format!("Na{i} Na {:.2} 0 0\n", f64::from(i) / 10.0))
        .collect();
    let block = format!(
        "data_translations\n_cell_length_a 30\n_cell_length_b 400\n_cell_length_c 4\n\
         _cell_angle_alpha 90\n_cell_angle_beta 90\n_cell_angle_gamma 90\n\
         loop_\n_symmetry_equiv_pos_as_xyz\n{operations}\
         loop_\n_atom_site_label\n_atom_site_type_symbol\n_atom_site_fract_x\n\
         _atom_site_fract_y\n_atom_site_fract_z\n{rows}"
    );
    assert_eq!(read_cif(&block).unwrap()[0].len(), 1920);
    let text = block.repeat((1 << 22) / 1920 + 1);
    let err = read_cif(&text).unwrap_err();
    assert!(
        err.to_string()
            .contains("the structures hold more than 4194304 sites in all"),
        "{err}"
    );
}
