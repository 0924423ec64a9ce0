//! The units of the `convert_*` functions. Kusto converts with the UnitsNet library, so a unit is
//! named as UnitsNet names it (matched case-insensitively): the names are those the KQL reference
//! lists, which are UnitsNet's of the version Kusto ships (hence `KiloPond`, `HectocubicFoot`).
//! The sizes are the units' legal or scientific definitions, except where Kusto's UnitsNet rounded
//! one and the reference shows the rounded result (the acre-foot): there Vigil answers as Kusto.

use std::f64::consts::{PI, TAU};

/// A unit's name in lower case and its size in the quantity's SI unit.
pub(super) type UnitTable = [(&'static str, f64)];

// The international yard and pound agreement (1959) defines the customary units by the meter and
// the kilogram; the survey foot is the US definition that predates it.
const INCH: f64 = 0.0254;
const FOOT: f64 = 0.3048;
const YARD: f64 = 0.9144;
const MILE: f64 = 1_609.344;
const US_SURVEY_FOOT: f64 = 1200.0 / 3937.0;
const NAUTICAL_MILE: f64 = 1852.0;
const POUND: f64 = 0.453_592_37;
const STANDARD_GRAVITY: f64 = 9.806_65;
const POUND_FORCE: f64 = 4.448_221_615_260_5;
const CUBIC_INCH: f64 = 1.638_706_4e-5;
const CUBIC_FOOT: f64 = 0.028_316_846_592;
// 231 cubic inches.
const US_GALLON: f64 = 3.785_411_784e-3;
// A 128th of the gallon.
const US_FLUID_OUNCE: f64 = 2.957_352_956_25e-5;
const IMPERIAL_GALLON: f64 = 4.546_09e-3;
const ASTRONOMICAL_UNIT: f64 = 149_597_870_700.0;
// A Julian year of light travel, as the IAU defines the light-year.
const LIGHT_YEAR: f64 = 299_792_458.0 * 365.25 * 86_400.0;
const PARSEC: f64 = ASTRONOMICAL_UNIT * 648_000.0 / PI;
// The International Table BTU, which UnitsNet's BritishThermalUnit and the EC therm use.
const BTU: f64 = 1_055.055_852_62;
// The thermochemical calorie, UnitsNet's Calorie.
const CALORIE: f64 = 4.184;
const WATT_HOUR: f64 = 3_600.0;
const WATT_DAY: f64 = 86_400.0;
const FOOT_POUND: f64 = FOOT * POUND_FORCE;

/// Sizes in radians. `tilt` is not here: it is the sine of the angle, so `convert_angle` maps it.
pub(super) const ANGLE: &UnitTable = &[
    ("radian", 1.0),
    ("nanoradian", 1e-9),
    ("microradian", 1e-6),
    ("milliradian", 1e-3),
    ("centiradian", 1e-2),
    ("deciradian", 1e-1),
    ("degree", PI / 180.0),
    ("nanodegree", PI / 180.0 / 1e9),
    ("microdegree", PI / 180.0 / 1e6),
    ("millidegree", PI / 180.0 / 1e3),
    ("arcminute", PI / (180.0 * 60.0)),
    ("arcsecond", PI / (180.0 * 3_600.0)),
    ("gradian", PI / 200.0),
    ("natomil", PI / 3_200.0),
    ("revolution", TAU),
];

/// Sizes in joules.
pub(super) const ENERGY: &UnitTable = &[
    ("joule", 1.0),
    ("millijoule", 1e-3),
    ("kilojoule", 1e3),
    ("megajoule", 1e6),
    ("gigajoule", 1e9),
    ("calorie", CALORIE),
    ("kilocalorie", CALORIE * 1e3),
    ("megacalorie", CALORIE * 1e6),
    ("britishthermalunit", BTU),
    ("kilobritishthermalunit", BTU * 1e3),
    ("megabritishthermalunit", BTU * 1e6),
    ("gigabritishthermalunit", BTU * 1e9),
    ("electronvolt", 1.602_176_634e-19),
    ("kiloelectronvolt", 1.602_176_634e-16),
    ("megaelectronvolt", 1.602_176_634e-13),
    ("gigaelectronvolt", 1.602_176_634e-10),
    ("teraelectronvolt", 1.602_176_634e-7),
    ("footpound", FOOT_POUND),
    ("erg", 1e-7),
    ("watthour", WATT_HOUR),
    ("kilowatthour", WATT_HOUR * 1e3),
    ("megawatthour", WATT_HOUR * 1e6),
    ("gigawatthour", WATT_HOUR * 1e9),
    ("terawatthour", WATT_HOUR * 1e12),
    ("wattday", WATT_DAY),
    ("kilowattday", WATT_DAY * 1e3),
    ("megawattday", WATT_DAY * 1e6),
    ("gigawattday", WATT_DAY * 1e9),
    ("terawattday", WATT_DAY * 1e12),
    // 100,000 BTU each, the BTU being the International Table one (EC), the 59 °F one (US) or
    // the one of the UK's Units of Measurement Regulations 1995 (imperial).
    ("thermec", BTU * 1e5),
    ("decathermec", BTU * 1e6),
    ("thermus", 1.054_804e8),
    ("decathermus", 1.054_804e9),
    ("thermimperial", 1.055_055_852_573_48e8),
    ("decathermimperial", 1.055_055_852_573_48e9),
    // The mechanical horsepower, 550 foot-pounds per second.
    ("horsepowerhour", 550.0 * FOOT_POUND * 3_600.0),
];

/// Sizes in newtons.
pub(super) const FORCE: &UnitTable = &[
    ("newton", 1.0),
    ("micronewton", 1e-6),
    ("millinewton", 1e-3),
    ("decanewton", 1e1),
    ("kilonewton", 1e3),
    ("meganewton", 1e6),
    ("dyn", 1e-5),
    ("kilogramforce", STANDARD_GRAVITY),
    ("kilopond", STANDARD_GRAVITY),
    ("tonneforce", STANDARD_GRAVITY * 1e3),
    // A pound accelerated by one foot per second squared.
    ("poundal", 0.138_254_954_376),
    ("poundforce", POUND_FORCE),
    ("kilopoundforce", POUND_FORCE * 1e3),
    ("ounceforce", POUND_FORCE / 16.0),
    ("shorttonforce", POUND_FORCE * 2_000.0),
];

/// Sizes in meters.
pub(super) const LENGTH: &UnitTable = &[
    ("meter", 1.0),
    ("nanometer", 1e-9),
    ("micrometer", 1e-6),
    ("millimeter", 1e-3),
    ("centimeter", 1e-2),
    ("decimeter", 1e-1),
    ("decameter", 1e1),
    ("hectometer", 1e2),
    ("kilometer", 1e3),
    ("angstrom", 1e-10),
    ("inch", INCH),
    ("microinch", INCH * 1e-6),
    ("mil", INCH * 1e-3),
    ("hand", 0.101_6),
    ("foot", FOOT),
    ("ussurveyfoot", US_SURVEY_FOOT),
    ("yard", YARD),
    ("fathom", 1.828_8),
    ("chain", 20.116_8),
    ("shackle", 27.432),
    ("mile", MILE),
    ("datamile", 1_828.8),
    ("nauticalmile", NAUTICAL_MILE),
    // Printer's points are 1/72.27 inch (the pica is 12 of them); DTP points are 1/72 inch.
    ("printerpoint", INCH / 72.27),
    ("printerpica", 12.0 * INCH / 72.27),
    ("dtppoint", INCH / 72.0),
    ("dtppica", INCH / 6.0),
    ("twip", INCH / 1_440.0),
    ("astronomicalunit", ASTRONOMICAL_UNIT),
    ("lightyear", LIGHT_YEAR),
    ("kilolightyear", LIGHT_YEAR * 1e3),
    ("megalightyear", LIGHT_YEAR * 1e6),
    ("parsec", PARSEC),
    ("kiloparsec", PARSEC * 1e3),
    ("megaparsec", PARSEC * 1e6),
    // The IAU's nominal solar radius (2015 Resolution B3), which current UnitsNet uses.
    ("solarradius", 6.957e8),
];

/// Sizes in kilograms.
pub(super) const MASS: &UnitTable = &[
    ("kilogram", 1.0),
    ("nanogram", 1e-12),
    ("microgram", 1e-9),
    ("milligram", 1e-6),
    ("centigram", 1e-5),
    ("decigram", 1e-4),
    ("gram", 1e-3),
    ("decagram", 1e-2),
    ("hectogram", 1e-1),
    ("tonne", 1e3),
    ("kilotonne", 1e6),
    ("megatonne", 1e9),
    ("pound", POUND),
    ("kilopound", POUND * 1e3),
    ("megapound", POUND * 1e6),
    ("grain", 64.798_91e-6),
    ("ounce", 0.028_349_523_125),
    ("stone", 6.350_293_18),
    ("shorthundredweight", 45.359_237),
    ("longhundredweight", 50.802_345_44),
    ("shortton", 907.184_74),
    ("longton", 1_016.046_908_8),
    // The mass a pound-force accelerates by one foot per second squared.
    ("slug", POUND_FORCE / FOOT),
    // Astronomical masses have no definition; these are UnitsNet's values.
    ("solarmass", 1.989_47e30),
    ("earthmass", 5.972_2e24),
];

/// Sizes in meters per second.
pub(super) const SPEED: &UnitTable = &[
    ("meterpersecond", 1.0),
    ("nanometerpersecond", 1e-9),
    ("micrometerpersecond", 1e-6),
    ("millimeterpersecond", 1e-3),
    ("centimeterpersecond", 1e-2),
    ("decimeterpersecond", 1e-1),
    ("kilometerpersecond", 1e3),
    ("meterperminute", 1.0 / 60.0),
    ("nanometerperminute", 1e-9 / 60.0),
    ("micrometerperminute", 1e-6 / 60.0),
    ("millimeterperminute", 1e-3 / 60.0),
    ("centimeterperminute", 1e-2 / 60.0),
    ("decimeterperminute", 1e-1 / 60.0),
    ("kilometerperminute", 1e3 / 60.0),
    ("meterperhour", 1.0 / 3_600.0),
    ("millimeterperhour", 1e-3 / 3_600.0),
    ("centimeterperhour", 1e-2 / 3_600.0),
    ("kilometerperhour", 1e3 / 3_600.0),
    ("inchpersecond", INCH),
    ("inchperminute", INCH / 60.0),
    ("inchperhour", INCH / 3_600.0),
    ("footpersecond", FOOT),
    ("footperminute", FOOT / 60.0),
    ("footperhour", FOOT / 3_600.0),
    ("ussurveyfootpersecond", US_SURVEY_FOOT),
    ("ussurveyfootperminute", US_SURVEY_FOOT / 60.0),
    ("ussurveyfootperhour", US_SURVEY_FOOT / 3_600.0),
    ("yardpersecond", YARD),
    ("yardperminute", YARD / 60.0),
    ("yardperhour", YARD / 3_600.0),
    ("mileperhour", MILE / 3_600.0),
    ("knot", NAUTICAL_MILE / 3_600.0),
];

/// Sizes in cubic meters.
pub(super) const VOLUME: &UnitTable = &[
    ("cubicmeter", 1.0),
    ("hectocubicmeter", 1e2),
    ("kilocubicmeter", 1e3),
    ("cubicmicrometer", 1e-18),
    ("cubicmillimeter", 1e-9),
    ("cubiccentimeter", 1e-6),
    ("cubicdecimeter", 1e-3),
    ("cubichectometer", 1e6),
    ("cubickilometer", 1e9),
    ("liter", 1e-3),
    ("microliter", 1e-9),
    ("milliliter", 1e-6),
    ("centiliter", 1e-5),
    ("deciliter", 1e-4),
    ("decaliter", 1e-2),
    ("hectoliter", 1e-1),
    ("kiloliter", 1.0),
    ("megaliter", 1e3),
    ("metricteaspoon", 5e-6),
    ("uktablespoon", 15e-6),
    ("autablespoon", 20e-6),
    ("metriccup", 250e-6),
    ("cubicinch", CUBIC_INCH),
    ("cubicfoot", CUBIC_FOOT),
    ("hectocubicfoot", CUBIC_FOOT * 1e2),
    ("kilocubicfoot", CUBIC_FOOT * 1e3),
    ("megacubicfoot", CUBIC_FOOT * 1e6),
    ("boardfoot", CUBIC_FOOT / 12.0),
    ("cubicyard", YARD * YARD * YARD),
    ("cubicmile", MILE * MILE * MILE),
    // An acre (43,560 square feet) one foot deep is 1233.48183754752 m³; Kusto's UnitsNet takes
    // 1/0.000810714 m³, a millionth more, and Vigil answers as Kusto does.
    ("acrefoot", 1.0 / 0.000_810_714),
    ("usgallon", US_GALLON),
    ("deciusgallon", 3.785_411_784e-4),
    ("decausgallon", 3.785_411_784e-2),
    ("hectousgallon", 0.378_541_178_4),
    ("kilousgallon", 3.785_411_784),
    ("megausgallon", 3_785.411_784),
    ("usquart", US_GALLON / 4.0),
    ("uspint", US_GALLON / 8.0),
    ("uscustomarycup", US_GALLON / 16.0),
    ("usounce", US_FLUID_OUNCE),
    ("ustablespoon", US_FLUID_OUNCE / 2.0),
    ("usteaspoon", 4.928_921_593_75e-6),
    // The cup of US nutrition labeling.
    ("uslegalcup", 240e-6),
    ("usbeerbarrel", 31.0 * US_GALLON),
    ("oilbarrel", 42.0 * US_GALLON),
    ("imperialgallon", IMPERIAL_GALLON),
    ("kiloimperialgallon", IMPERIAL_GALLON * 1e3),
    ("megaimperialgallon", IMPERIAL_GALLON * 1e6),
    ("imperialpint", IMPERIAL_GALLON / 8.0),
    ("imperialounce", IMPERIAL_GALLON / 160.0),
    ("imperialbeerbarrel", 36.0 * IMPERIAL_GALLON),
];

/// Temperature scales: the size of one degree in kelvins and the reading at absolute zero, so
/// that kelvins = (reading - zero) × size. Delisle counts down, hence its negative size.
pub(super) const TEMPERATURE: &[(&str, f64, f64)] = &[
    ("kelvin", 1.0, 0.0),
    ("degreecelsius", 1.0, -273.15),
    ("millidegreecelsius", 1e-3, -273_150.0),
    ("degreefahrenheit", 5.0 / 9.0, -459.67),
    ("degreerankine", 5.0 / 9.0, 0.0),
    ("degreedelisle", -2.0 / 3.0, 559.725),
    ("degreenewton", 100.0 / 33.0, -90.139_5),
    ("degreereaumur", 1.25, -218.52),
    ("degreeroemer", 40.0 / 21.0, -135.903_75),
    // UnitsNet's unit of the Sun's effective temperature.
    ("solartemperature", 5_778.0, 0.0),
];

/// `value` in unit `from` expressed in unit `to`, or `None` when either is not in the table.
pub(super) fn convert_units(table: &UnitTable, value: f64, from: &str, to: &str) -> Option<f64> {
    let size = |unit: &str| table.iter().find(|(name, _)| name.eq_ignore_ascii_case(unit)).map(|(_, size)| *size);
    Some(value * size(from)? / size(to)?)
}

/// Like `convert_units` on `ANGLE`, with UnitsNet's `Tilt`: the sine of the angle.
pub(super) fn convert_angle(value: f64, from: &str, to: &str) -> Option<f64> {
    let radians =
        if from.eq_ignore_ascii_case("tilt") { value.asin() } else { convert_units(ANGLE, value, from, "radian")? };
    if to.eq_ignore_ascii_case("tilt") { Some(radians.sin()) } else { convert_units(ANGLE, radians, "radian", to) }
}

/// Temperatures are affine: converted through kelvins, not by a ratio of sizes.
pub(super) fn convert_temperature(value: f64, from: &str, to: &str) -> Option<f64> {
    let scale = |unit: &str| {
        TEMPERATURE.iter().find(|(name, ..)| name.eq_ignore_ascii_case(unit)).map(|(_, size, zero)| (*size, *zero))
    };
    let ((from_size, from_zero), (to_size, to_zero)) = (scale(from)?, scale(to)?);
    Some((value - from_zero) * from_size / to_size + to_zero)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn assert_close(actual: Option<f64>, expected: f64) {
        let actual = actual.expect("known units");
        assert!(((actual - expected) / expected).abs() < 1e-9, "{actual} is not {expected}");
    }

    /// The examples of the reference pages, with the results they print.
    #[test]
    fn reference_examples() {
        assert_close(convert_angle(1.2, "Degree", "Arcminute"), 72.0);
        assert_close(convert_units(ENERGY, 1.2, "Joule", "BritishThermalUnit"), 0.001_137_380_544_375_98);
        assert_close(convert_units(FORCE, 1.2, "Newton", "Decanewton"), 0.12);
        assert_close(convert_units(LENGTH, 1.2, "Meter", "Foot"), 3.937_007_874_015_75);
        assert_close(convert_units(MASS, 1.2, "Kilogram", "Pound"), 2.645_547_146_218_53);
        assert_close(convert_units(SPEED, 1.2, "MeterPerSecond", "CentimeterPerHour"), 432_000.0);
        assert_close(convert_temperature(1.2, "Kelvin", "DegreeCelsius"), -271.95);
    }

    /// The page prints 0.0009728568: Kusto's cubic meter is 0.000810714 acre-feet.
    #[test]
    fn acre_foot_is_kustos() {
        assert_close(convert_units(VOLUME, 1.2, "CubicMeter", "AcreFoot"), 0.000_972_856_8);
    }

    fn assert_lower_case_and_unique<'a>(names: impl IntoIterator<Item = &'a str>) {
        let mut seen = HashSet::new();
        for name in names {
            assert_eq!(name, name.to_ascii_lowercase());
            assert!(seen.insert(name), "{name} is listed twice");
        }
    }

    #[test]
    fn angle_names_are_lower_case_and_unique() {
        assert_lower_case_and_unique(ANGLE.iter().map(|(name, _)| *name).chain(["tilt"]));
    }

    #[test]
    fn energy_names_are_lower_case_and_unique() {
        assert_lower_case_and_unique(ENERGY.iter().map(|(name, _)| *name));
    }

    #[test]
    fn force_names_are_lower_case_and_unique() {
        assert_lower_case_and_unique(FORCE.iter().map(|(name, _)| *name));
    }

    #[test]
    fn length_names_are_lower_case_and_unique() {
        assert_lower_case_and_unique(LENGTH.iter().map(|(name, _)| *name));
    }

    #[test]
    fn mass_names_are_lower_case_and_unique() {
        assert_lower_case_and_unique(MASS.iter().map(|(name, _)| *name));
    }

    #[test]
    fn speed_names_are_lower_case_and_unique() {
        assert_lower_case_and_unique(SPEED.iter().map(|(name, _)| *name));
    }

    #[test]
    fn volume_names_are_lower_case_and_unique() {
        assert_lower_case_and_unique(VOLUME.iter().map(|(name, _)| *name));
    }

    #[test]
    fn temperature_names_are_lower_case_and_unique() {
        assert_lower_case_and_unique(TEMPERATURE.iter().map(|(name, ..)| *name));
    }

    #[test]
    fn names_match_in_any_case() {
        assert_close(convert_units(FORCE, 1.0, "KILOPOND", "kilogramForce"), 1.0);
        assert_eq!(convert_units(FORCE, 1.0, "Newton", "Parsec"), None);
    }

    #[test]
    fn tilt_is_the_sine_of_the_angle() {
        assert_close(convert_angle(0.5, "Tilt", "Degree"), 30.0);
        assert_close(convert_angle(90.0, "Degree", "Tilt"), 1.0);
        assert_eq!(convert_angle(1.0, "Tilt", "Furlong"), None);
    }

    #[test]
    fn temperature_scales_agree_on_boiling_water() {
        let boiling = [
            ("Kelvin", 373.15),
            ("DegreeCelsius", 100.0),
            ("MillidegreeCelsius", 100_000.0),
            ("DegreeFahrenheit", 212.0),
            ("DegreeRankine", 671.67),
            ("DegreeDelisle", 0.0),
            ("DegreeNewton", 33.0),
            ("DegreeReaumur", 80.0),
            ("DegreeRoemer", 60.0),
        ];
        for (unit, reading) in boiling {
            let celsius = convert_temperature(reading, unit, "DegreeCelsius").unwrap();
            assert!((celsius - 100.0).abs() < 1e-9, "{unit}: {celsius}");
            let back = convert_temperature(100.0, "DegreeCelsius", unit).unwrap();
            assert!((back - reading).abs() < 1e-9, "{unit}: {back}");
        }
    }
}
