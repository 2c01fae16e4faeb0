"""scikit-learn conformance and behaviour of gaussmix.sklearn's estimators."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from gaussmix.sklearn import GaussianMixtureImputer, GaussianMixtureRegressor


@parametrize_with_checks(
    [
        GaussianMixtureRegressor(n_components=2, random_state=0, n_iter=50),
        GaussianMixtureImputer(n_components=2, random_state=0, n_iter=30),
    ]
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
